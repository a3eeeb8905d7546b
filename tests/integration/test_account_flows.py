"""Sign-up with e-mail verification, password reset, one-time sign-in links, session timeouts by time
travel, and a form kept across an expired session: each failure with its calm message."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts.models import AccountToken, AuditEvent, Person
from bippop.app import create_app
from bippop.config import Settings
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, Clock, csrf_token, host, make_person

EN = {"bippop_lang": "en"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Litestar:
    app = create_app(settings)
    app.state.clock = clock
    return app


@pytest.fixture
def web(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies=EN) as client:
        yield client


def last_link(resources: PlatformResources, tenant: TenantRef, recipient: str) -> str:
    with resources.sessions()(info={"tenant": tenant}) as session:
        message = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.created_at.desc())
        ).first()
    assert message is not None, f"no mail to {recipient}"
    found = re.search(r"/lien/([A-Za-z0-9_\-]+)", message.body)
    assert found, message.body
    return found.group(1)


def outbox_for(resources: PlatformResources, tenant: TenantRef, recipient: str) -> list[OutboxMessage]:
    with resources.sessions()(info={"tenant": tenant}) as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient)))


def post(
    web: TestClient[Litestar],
    path: str,
    data: dict[str, str],
    slug: str = "alpha",
    headers: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    token = web.cookies.get("csrftoken") or csrf_token(web, slug)
    return web.post(
        path,
        data={**data, "_csrf_token": token},
        headers={**host(slug), **(headers or {})},
        follow_redirects=False,
    )


def test_sign_up_verify_then_sign_in(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    email = f"marie-{uuid.uuid4().hex[:6]}@example.org"
    weak = post(
        web,
        "/inscription",
        {"display_name": "Marie", "email": email, "password": "azerty123", "role": "volunteer"},
    )
    assert weak.status_code == 400 and "too common" in weak.text
    assert 'aria-invalid="true"' in weak.text and 'value="Marie"' in weak.text  # what was typed stays
    done = post(
        web,
        "/inscription",
        {"display_name": "Marie", "email": email, "password": DEFAULT_PASSWORD, "role": "volunteer"},
    )
    assert done.status_code == 200 and "Check your e-mail" in done.text
    # Not verified yet: signing in sends a fresh link instead.
    early = post(web, "/connexion", {"email": email, "password": DEFAULT_PASSWORD})
    assert early.status_code == 400 and "confirm your e-mail address first" in early.text
    token = last_link(resources, tenant, email)
    landing = web.get(f"/lien/{token}", headers=host("alpha"))
    assert landing.status_code == 200 and "Confirm my address" in landing.text
    confirmed = post(web, f"/lien/{token}", {})
    assert confirmed.status_code == 303
    assert web.get("/compte", headers=host("alpha")).status_code == 200
    again = post(web, f"/lien/{token}", {})
    assert again.status_code == 400 and "already been used" in again.text


def test_sign_up_with_a_known_address_tells_nothing_and_mails_the_owner(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    response = post(
        web,
        "/inscription",
        {"display_name": "X", "email": email, "password": DEFAULT_PASSWORD, "role": "beneficiary"},
    )
    assert response.status_code == 200 and "Check your e-mail" in response.text
    (mail,) = outbox_for(resources, tenant, email)
    assert mail.purpose == "already_registered"


def test_password_reset_once_and_only_in_time(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    person_id, email, _ = make_person(resources, tenant, ["beneficiary"])
    unknown = post(web, "/mot-de-passe-oublie", {"email": "nobody-here@example.org"})
    known = post(web, "/mot-de-passe-oublie", {"email": email})
    assert unknown.status_code == known.status_code == 200
    assert unknown.text.count("If an account exists") == known.text.count("If an account exists") == 1
    token = last_link(resources, tenant, email)
    weak = post(web, f"/lien/{token}", {"password": "short"})
    assert weak.status_code == 400 and "at least 8 characters" in weak.text
    new_password = "girafe lampe nuage violon"
    assert post(web, f"/lien/{token}", {"password": new_password}).status_code == 303
    reused = post(web, f"/lien/{token}", {"password": "another fine sentence here"})
    assert reused.status_code == 400 and "already been used" in reused.text
    web.cookies.clear()
    web.cookies.update(EN)
    assert post(web, "/connexion", {"email": email, "password": DEFAULT_PASSWORD}).status_code == 400
    assert post(web, "/connexion", {"email": email, "password": new_password}).status_code == 303
    with resources.sessions()(info={"tenant": tenant}) as session:
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == person_id)))
    assert {"password_reset", "sign_in"} <= actions


def test_expired_link_says_so(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    post(web, "/connexion/lien", {"email": email})
    token = last_link(resources, tenant, email)
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        for row in session.scalars(select(AccountToken).where(AccountToken.email == email)):
            row.expires_at = row.created_at
    page = web.get(f"/lien/{token}", headers=host("alpha"))
    assert page.status_code == 400 and "This link has expired" in page.text


def test_one_time_sign_in_link(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    assert post(web, "/connexion/lien", {"email": email, "next_url": "/compte"}).status_code == 200
    token = last_link(resources, tenant, email)
    # Opening the link (a mail scanner does that) does not use it.
    assert web.get(f"/lien/{token}", headers=host("alpha")).status_code == 200
    used = post(web, f"/lien/{token}", {"next_url": "/compte"})
    assert used.status_code == 303 and used.headers["location"] == "/compte"
    assert web.get("/compte", headers=host("alpha")).status_code == 200


def test_a_link_from_one_tenant_is_nothing_on_another(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    post(web, "/connexion/lien", {"email": email})
    token = last_link(resources, tenant, email)
    page = web.get(f"/lien/{token}", headers=host("beta"))
    assert page.status_code == 400 and "not valid" in page.text


def test_rate_limited_sign_in_says_when_to_retry(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    for _ in range(5):
        post(web, "/connexion", {"email": email, "password": "wrong wrong wrong"})
    refused = post(web, "/connexion", {"email": email, "password": DEFAULT_PASSWORD})
    assert refused.status_code == 400 and "Too many attempts" in refused.text and "minute" in refused.text


def sign_in(web: TestClient[Litestar], email: str) -> None:
    assert post(web, "/connexion", {"email": email, "password": DEFAULT_PASSWORD}).status_code == 303


def test_session_times_out_for_inactivity_and_can_be_extended(
    web: TestClient[Litestar], clock: Clock, resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["volunteer"])  # volunteers: 30 minutes idle
    sign_in(web, email)
    status = web.get("/session/etat", headers=host("alpha")).json()
    assert status["signed_in"] and status["expires_in"] == 30 * 60 and status["warn_in"] == 28 * 60
    page = web.get("/compte", headers=host("alpha"))
    assert 'data-session-warn-in="1680"' in page.text and "session.js" in page.text
    clock.now += 29 * 60
    # Asking how long is left does not count as activity ...
    assert web.get("/session/etat", headers=host("alpha")).json()["expires_in"] == 60
    # ... "Stay signed in" does.
    extended = post(web, "/session/prolonger", {})
    assert extended.json()["expires_in"] == 30 * 60
    clock.now += 31 * 60
    assert web.get("/session/etat", headers=host("alpha")).json() == {
        "signed_in": False,
        "expires_in": 0,
        "warn_in": 0,
    }
    gone = web.get("/compte", headers={**host("alpha"), "Accept": "text/html"}, follow_redirects=False)
    assert gone.status_code == 303


def test_staff_absolute_timeout(
    web: TestClient[Litestar], clock: Clock, resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["partner"])  # partners: 30 min idle, 10 h at most
    sign_in(web, email)
    for _ in range(21):  # active every 29 minutes for 10 h 9 min
        clock.now += 29 * 60
        web.get("/session/etat", headers=host("alpha"))
        post(web, "/session/prolonger", {})
    assert web.get("/session/etat", headers=host("alpha")).json()["signed_in"] is False


def test_sign_out_everywhere(settings: Settings, resources: PlatformResources, tenant: TenantRef) -> None:
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    # Two devices: two clients (each test client runs its own event loop, hence its own app).
    with (
        TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies=EN) as phone,
        TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies=EN) as tablet,
    ):
        sign_in(phone, email)
        sign_in(tablet, email)
        assert post(phone, "/compte/deconnecter-partout", {}).status_code == 303
        assert tablet.get("/session/etat", headers=host("alpha")).json()["signed_in"] is False


def test_person_required_to_use_mfa_is_sent_to_set_it_up(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef, settings: Settings
) -> None:
    import pyotp

    from bippop.accounts import mfa

    person_id, email, _ = make_person(resources, tenant, ["coordinator"])
    first = post(web, "/connexion", {"email": email, "password": DEFAULT_PASSWORD})
    assert first.headers["location"] == "/compte/double-authentification"
    setup = web.get("/compte/double-authentification", headers=host("alpha"))
    assert setup.status_code == 200 and "<svg" in setup.text
    with resources.sessions()(info={"tenant": tenant}) as session:
        sealed = session.get(Person, person_id).totp_secret  # type: ignore[union-attr]
    secret = mfa.unseal(sealed or "", settings.effective_secret_key())
    assert secret[:4] in setup.text.replace(" ", "")
    wrong = post(web, "/compte/double-authentification", {"code": "123456"})
    assert wrong.status_code == 400 and "This code is not right" in wrong.text
    done = post(web, "/compte/double-authentification", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and "recovery codes" in done.text
    assert len(re.findall(r"<li>[0-9A-F]{5}-[0-9A-F]{5}</li>", done.text)) == 10


def test_form_sent_after_the_session_ended_is_kept_through_sign_in(
    web: TestClient[Litestar], clock: Clock, resources: PlatformResources, tenant: TenantRef
) -> None:
    from support import totp_now

    _, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    assert secret
    assert (
        post(web, "/connexion", {"email": email, "password": DEFAULT_PASSWORD}).headers["location"]
        == "/connexion/code"
    )
    assert post(web, "/connexion/code", {"code": totp_now(secret, clock.now)}).status_code == 303
    assert web.get("/gestion/invitations", headers=host("alpha")).status_code == 200
    clock.now += 16 * 60  # coordinators: 15 minutes without activity
    invitee = f"invite-{uuid.uuid4().hex[:6]}@example.org"
    sent = post(
        web, "/gestion/invitations", {"email": invitee, "roles": "volunteer"}, headers={"Accept": "text/html"}
    )
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert (
        location.startswith("/connexion?next_url=%2Fgestion%2Finvitations%3Fbrouillon%3D")
        and "expired=1" in location
    )
    assert invitee not in location  # what was typed waits server-side, never in the address
    page = web.get(location, headers=host("alpha"))
    assert "Your session had ended" in page.text
    next_url = re.search(r'name="next_url" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert (
        post(
            web, "/connexion", {"email": email, "password": DEFAULT_PASSWORD, "next_url": next_url}
        ).status_code
        == 303
    )
    back = post(web, "/connexion/code", {"code": totp_now(secret, clock.now)})
    assert back.status_code == 303 and back.headers["location"].startswith("/gestion/invitations?brouillon=")
    form = web.get(back.headers["location"], headers=host("alpha"))
    assert f'value="{invitee}"' in form.text
    assert re.search(r'value="volunteer"[^>]*checked', form.text)
    # A draft is given back once.
    again = web.get(back.headers["location"], headers=host("alpha"))
    assert invitee not in again.text


def test_a_person_chooses_how_to_hear_from_us(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    person_id, email, _ = make_person(resources, tenant, ["beneficiary"])
    sign_in(web, email)
    page = web.get("/compte", headers=host("alpha"))
    assert 'id="channel-email" value="email" checked' in page.text
    missing = post(web, "/compte/preferences", {"channel": "sms", "phone": ""})
    assert (
        missing.status_code == 400
        and 'id="error-phone"' in missing.text
        and 'value="sms" checked' in missing.text
    )
    garbled = post(web, "/compte/preferences", {"channel": "sms", "phone": "12"})
    assert garbled.status_code == 400 and "06 12 34 56 78" in garbled.text
    assert (
        post(web, "/compte/preferences", {"channel": "coordinator", "phone": "03 44 00 11 22"}).status_code
        == 303
    )
    with resources.sessions()(info={"tenant": tenant}) as session:
        saved = session.get(Person, person_id)
        assert (
            saved is not None
            and saved.channels == ["coordinator", "email"]
            and saved.phone == "03 44 00 11 22"
        )


def test_no_redirect_leaves_the_site(web: TestClient[Litestar], tenant: TenantRef) -> None:
    for target in ("/\\evil.example", "//evil.example", "https://evil.example", "/%0d%0aSet-Cookie:x=1"):
        response = web.get(
            "/langue",
            params={"lang": "fr", "next_url": target},
            headers=host("alpha"),
            follow_redirects=False,
        )
        assert response.headers["location"] in ("/", target) and not response.headers["location"].startswith(
            ("//", "/\\")
        )
        assert "evil.example" not in response.headers["location"] or response.headers["location"].startswith(
            "/%"
        )


def test_a_field_sent_twice_is_not_an_error(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    token = csrf_token(web, "alpha")
    response = web.post(
        "/connexion",
        content="email=a%40example.org&email=b%40example.org&password=x&password=y&_csrf_token=" + token,
        headers={**host("alpha"), "Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 400 and "not right" in response.text
