"""The co-op's team in the console: inviting a member (an account without a password, a one-time link
by e-mail), enrolling through the link (password, then the second factor), the link working once
(two uses at once included) and expiring, roles, disabling (sessions end), the last administrator's
protection, and the platform audit log page."""

from __future__ import annotations

import datetime
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from coop_support import COOP, COOP_HOST, staff_console
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from bippop import clock
from bippop.accounts.auth import COOP_SCOPE
from bippop.accounts.staff_models import Staff
from bippop.app import create_app
from bippop.config import Settings
from bippop.coop import audit
from bippop.coop.models import AuditEntry, StaffEnrolment
from bippop.coop.services.staff import consume_statement, token_hash
from bippop.outbox.models import PlatformOutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, csrf_token

NEW_PASSWORD = "girafe cerceau myrtille 48"
LINK = re.compile(r"https?://coop\.[^/\s]+/equipe/inscription/([A-Za-z0-9_-]+)")
Client = TestClient[Litestar]


@pytest.fixture(autouse=True)
def fresh_coop_limits(resources: PlatformResources) -> None:
    """One address for every request of the test client: the co-op's counters start at zero."""
    redis = resources.redis
    assert redis is not None
    keys = list(redis.scan_iter(match=f"*bippop/t/{COOP_SCOPE}/*"))
    if keys:
        redis.delete(*keys)


@pytest.fixture
def web(settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        client.cookies.set("bippop_lang", "en")
        yield client


def _email() -> str:
    return f"invitee-{uuid.uuid4().hex[:8]}@coop.example.org"


def _invite(console: Any, email: str, role: str = "coop_operator", name: str = "Sacha Invitée") -> Response:
    console.get("/equipe/inviter")
    response: Response = console.post("/equipe/inviter", {"name": name, "email": email, "role": role})
    return response


def _staff(resources: PlatformResources, email: str) -> Staff:
    with resources.admin_sessions()() as session:
        found = session.scalar(select(Staff).where(Staff.email == email))
        assert found is not None
        session.expunge(found)
        return found


def _link_token(resources: PlatformResources, email: str) -> str:
    """The token of the latest enrolment e-mail to ``email`` (from the platform outbox)."""
    with resources.admin_sessions()() as session:
        message = session.scalar(
            select(PlatformOutboxMessage)
            .where(
                PlatformOutboxMessage.recipient == email, PlatformOutboxMessage.purpose == "staff_enrolment"
            )
            .order_by(PlatformOutboxMessage.created_at.desc())
            .limit(1)
        )
        assert message is not None
        found = LINK.search(message.body)
        assert found, message.body
        assert found.group(0).startswith(f"http://{COOP_HOST}/") or found.group(0).startswith(
            f"https://{COOP_HOST}"
        )
        return found.group(1)


def _actions(resources: PlatformResources, target: uuid.UUID) -> list[str]:
    """What was done to ``target`` (its own sign-ins and sign-outs left out)."""
    with resources.admin_sessions()() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(
                    AuditEntry.target == str(target),
                    AuditEntry.action.not_in(("staff.sign_in", "staff.sign_out")),
                )
                .order_by(AuditEntry.id)
            )
        )


def _enrol(client: Client, token: str, password: str = NEW_PASSWORD) -> Response:
    page = client.get(f"/equipe/inscription/{token}", headers=COOP)
    assert page.status_code == 200, page.text
    return client.post(
        f"/equipe/inscription/{token}",
        data={"password": password, "_csrf_token": str(client.cookies.get("csrftoken"))},
        headers=COOP,
        follow_redirects=False,
    )


def test_invite_enrol_through_the_link_then_sign_in(
    settings: Settings, resources: PlatformResources, web: Client
) -> None:
    email = _email()
    with staff_console(settings, resources, role="coop_admin") as admin:
        form = admin.get("/equipe/inviter")
        assert form.status_code == 200 and 'name="email"' in form.text
        bad = admin.post("/equipe/inviter", {"name": "Sacha", "email": "sacha@", "role": "coop_operator"})
        assert bad.status_code == 400 and "name@example.fr" in bad.text and 'value="Sacha"' in bad.text
        sent = _invite(admin, email)
        assert sent.status_code == 303 and sent.headers["location"] == "/equipe?fait=invited"
        listed = admin.get("/equipe?fait=invited")
        assert "The invitation is sent" in listed.text and email in listed.text
        assert "Invited, link not used yet" in listed.text
        again = _invite(admin, email.upper())
        assert again.status_code == 400 and "already has this e-mail address" in again.text
        admin_id = admin.staff_id
    member = _staff(resources, email)
    assert member.password_hash is None and member.roles == ["coop_operator"]
    token = _link_token(resources, email)
    assert token not in listed.text  # e-mailed only
    with resources.admin_sessions()() as session:
        enrolment = session.scalar(select(StaffEnrolment).where(StaffEnrolment.staff_id == member.id))
        assert enrolment is not None and enrolment.token_hash == token_hash(token)
        assert enrolment.created_by == admin_id and enrolment.used_at is None
        assert enrolment.expires_at - clock.now() > datetime.timedelta(hours=71)

    # No password yet: the address and any password do not sign in.
    login = csrf_token(web, COOP_HOST)
    refused = web.post(
        "/connexion", data={"email": email, "password": NEW_PASSWORD, "_csrf_token": login}, headers=COOP
    )
    assert refused.status_code == 400

    weak = _enrol(web, token, "password")
    assert weak.status_code == 400 and "too easy to guess" in weak.text and "error-password" in weak.text
    done = _enrol(web, token)
    assert done.status_code == 303 and done.headers["location"] == "/equipe/double-authentification"
    page = web.get("/equipe/double-authentification", headers=COOP)
    found = re.search(r'<span class="secret">([A-Z2-7 ]+)</span>', page.text)
    assert found, page.text
    secret = found.group(1).replace(" ", "")
    csrf = str(web.cookies.get("csrftoken"))
    codes = web.post(
        "/equipe/double-authentification",
        data={"code": pyotp.TOTP(secret).now(), "_csrf_token": csrf},
        headers=COOP,
    )
    assert codes.status_code == 200 and len(re.findall(r"[0-9A-F]{5}-[0-9A-F]{5}", codes.text)) == 10
    assert web.get("/", headers=COOP).status_code == 200
    assert _actions(resources, member.id) == ["staff.invite", "staff.enrolled"]

    # The link worked once.
    used = web.get(f"/equipe/inscription/{token}", headers=COOP)
    assert used.status_code == 410 and "expired or has already been used" in used.text

    # Signed out, the member signs in with the password they chose and the next code.
    web.post("/deconnexion", data={"_csrf_token": csrf}, headers=COOP)
    login = csrf_token(web, COOP_HOST)
    first = web.post(
        "/connexion",
        data={"email": email, "password": NEW_PASSWORD, "_csrf_token": login},
        headers=COOP,
        follow_redirects=False,
    )
    assert first.status_code == 303 and first.headers["location"] == "/connexion/code", first.text
    second = web.post(
        "/connexion/code",
        data={"code": pyotp.TOTP(secret).at(time.time() + 30), "_csrf_token": login},
        headers=COOP,
        follow_redirects=False,
    )
    assert second.status_code == 303, second.text
    assert web.get("/equipe", headers=COOP).status_code == 403  # an operator


def test_two_uses_of_one_link_at_once_one_wins(settings: Settings, resources: PlatformResources) -> None:
    email = _email()
    with staff_console(settings, resources) as admin:
        assert _invite(admin, email).status_code == 303
    token = _link_token(resources, email)
    clients = [TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") for _ in range(2)]
    results: list[int] = []
    start = threading.Barrier(2)
    for client in clients:
        client.__enter__()
        assert client.get(f"/equipe/inscription/{token}", headers=COOP).status_code == 200

    def use(client: Client) -> None:
        start.wait()
        response = client.post(
            f"/equipe/inscription/{token}",
            data={"password": NEW_PASSWORD, "_csrf_token": str(client.cookies.get("csrftoken"))},
            headers=COOP,
            follow_redirects=False,
        )
        results.append(response.status_code)

    try:
        threads = [threading.Thread(target=use, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for client in clients:
            client.__exit__(None, None, None)
    assert sorted(results) == [303, 410]
    assert _actions(resources, _staff(resources, email).id).count("staff.enrolled") == 1


def test_the_statement_spends_a_link_once_across_connections(
    settings: Settings, resources: PlatformResources
) -> None:
    """Two connections: the second's update waits for the first's row lock, then finds it used."""
    email = _email()
    with staff_console(settings, resources) as admin:
        assert _invite(admin, email).status_code == 303
    token = _link_token(resources, email)
    second: list[Any] = []
    with resources.sessions()() as first_session:
        first = first_session.scalar(consume_statement(token, clock.now()))

        def other() -> None:
            with resources.sessions()() as session, session.begin():
                second.append(session.scalar(consume_statement(token, clock.now())))

        thread = threading.Thread(target=other)
        thread.start()
        first_session.commit()
    thread.join(timeout=30)
    assert first == _staff(resources, email).id
    assert second == [None]


def test_an_expired_link_shows_a_clear_page(
    settings: Settings, resources: PlatformResources, web: Client
) -> None:
    email = _email()
    with staff_console(settings, resources) as admin:
        assert _invite(admin, email).status_code == 303
    token = _link_token(resources, email)
    with resources.admin_sessions()() as session, session.begin():
        session.execute(
            update(StaffEnrolment)
            .where(StaffEnrolment.token_hash == token_hash(token))
            .values(expires_at=clock.now() - datetime.timedelta(minutes=1))
        )
    page = web.get(f"/equipe/inscription/{token}", headers=COOP)
    assert page.status_code == 410 and "expired or has already been used" in page.text
    assert 'name="password"' not in page.text
    assert web.get("/equipe/inscription/nonsense", headers=COOP).status_code == 410
    assert _staff(resources, email).password_hash is None


def test_resending_a_link_replaces_the_previous_one(
    settings: Settings, resources: PlatformResources, web: Client
) -> None:
    email = _email()
    with staff_console(settings, resources) as admin:
        assert _invite(admin, email).status_code == 303
        old = _link_token(resources, email)
        member = _staff(resources, email)
        page = admin.get(f"/equipe/{member.id}")
        assert page.status_code == 200 and "Send a new link" in page.text
        resent = admin.post(f"/equipe/{member.id}/lien")
        assert resent.status_code == 303
        assert admin.get(f"/equipe/{uuid.uuid4()}").status_code == 404
    new = _link_token(resources, email)
    assert new != old
    assert web.get(f"/equipe/inscription/{old}", headers=COOP).status_code == 410
    assert web.get(f"/equipe/inscription/{new}", headers=COOP).status_code == 200
    assert _actions(resources, member.id) == ["staff.invite", "staff.enrolment_resent"]


def test_an_operator_cannot_manage_the_team(settings: Settings, resources: PlatformResources) -> None:
    with staff_console(settings, resources, role="coop_operator") as operator:
        assert operator.get("/equipe").status_code == 403
        assert operator.get("/equipe/inviter").status_code == 403
        refused = operator.post("/equipe/inviter", {"name": "X", "email": _email(), "role": "coop_admin"})
        assert refused.status_code == 403
        assert operator.get("/journal").status_code == 200  # the audit log is every staff member's


def test_disabling_and_role_changes_end_the_members_sessions(
    settings: Settings, resources: PlatformResources
) -> None:
    with (
        staff_console(settings, resources) as admin,
        staff_console(settings, resources, "coop_operator") as member,
    ):
        assert member.get("/").status_code == 200
        # A new role: the member's session ends (it carried the old roles).
        changed = admin.post(f"/equipe/{member.staff_id}/role", {"role": "coop_admin"})
        assert changed.status_code == 303
        assert member.get("/", follow_redirects=False).headers["location"] == "/connexion"
        assert _staff(resources, member.email).roles == ["coop_admin"]

    with (
        staff_console(settings, resources) as admin,
        staff_console(settings, resources, "coop_operator") as member,
    ):
        confirm = admin.get(f"/equipe/{member.staff_id}/desactiver")
        assert confirm.status_code == 200 and "Their open sessions end now" in confirm.text
        assert _staff(resources, member.email).disabled_at is None  # the page alone changes nothing
        done = admin.post(f"/equipe/{member.staff_id}/desactiver")
        assert done.status_code == 303 and done.headers["location"] == "/equipe?fait=disabled"
        assert _staff(resources, member.email).disabled_at is not None
        # Enabled again behind the console's back: the session was ended, not just refused.
        with resources.admin_sessions()() as session, session.begin():
            session.execute(update(Staff).where(Staff.id == member.staff_id).values(disabled_at=None))
        assert member.get("/", follow_redirects=False).headers["location"] == "/connexion"
        assert _actions(resources, member.staff_id) == ["staff.disable"]
        # Nobody disables themselves.
        own = admin.post(f"/equipe/{admin.staff_id}/desactiver")
        assert own.status_code == 400 and "cannot disable your own account" in own.text


def test_the_last_administrator_stays_one(settings: Settings, resources: PlatformResources) -> None:
    with staff_console(settings, resources) as admin:
        with resources.admin_sessions()() as session, session.begin():
            session.execute(
                update(Staff)
                .where(
                    Staff.roles.contains(["coop_admin"]),
                    Staff.id != admin.staff_id,
                    Staff.disabled_at.is_(None),
                )
                .values(disabled_at=clock.now())
            )
        refused = admin.post(f"/equipe/{admin.staff_id}/role", {"role": "coop_operator"})
        assert refused.status_code == 400 and "at least one active administrator" in refused.text
        assert _staff(resources, admin.email).roles == ["coop_admin"]
        assert admin.get("/equipe").status_code == 200  # still signed in, still an administrator


def test_the_journal_lists_and_filters(
    settings: Settings, resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    with staff_console(settings, resources, role="coop_operator") as operator:
        marker = uuid.uuid4().hex[:12]
        with resources.admin_sessions()() as session, session.begin():
            audit.record(
                session, "tenant.suspend", staff_id=operator.staff_id, tenant_id=tenant.id, target=marker
            )
            audit.record(
                session,
                "tenant.reactivate",
                staff_id=operator.staff_id,
                tenant_id=other_tenant.id,
                target=marker,
            )
            audit.record(session, "odd.code", staff_id=None, target=marker, reason="test")
        page = operator.get("/journal")
        assert page.status_code == 200
        assert page.text.count(marker) == 3
        assert "Tenant suspended" in page.text and "Alphaville" in page.text and "Bétaville" in page.text
        assert "odd.code" in page.text and "reason : test" in page.text
        assert page.text.index("odd.code") < page.text.index("Tenant suspended")  # newest first
        by_tenant = operator.get("/journal", params={"tenant": tenant.slug})
        assert marker in by_tenant.text and "Bétaville" not in by_tenant.text
        by_action = operator.get("/journal", params={"action": "tenant.reactivate"})
        assert by_action.text.count(marker) == 1 and "Bétaville" in by_action.text
        none = operator.get("/journal", params={"tenant": "nowhere"})
        assert marker not in none.text and "0 entries" in none.text


def test_the_link_page_is_rate_limited_per_address(web: Client) -> None:
    statuses = [web.get(f"/equipe/inscription/guess-{n}", headers=COOP).status_code for n in range(21)]
    assert statuses[:20] == [410] * 20
    assert statuses[20] == 429
    assert "Too many attempts" in web.get("/equipe/inscription/another", headers=COOP).text


def test_signing_in_and_out_is_in_the_audit_log(settings: Settings, resources: PlatformResources) -> None:
    with staff_console(settings, resources) as console:
        staff_id = console.staff_id
        console.post("/deconnexion")
    with resources.sessions()() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.staff_id == staff_id).order_by(AuditEntry.id)
        ).all()
    assert actions == ["staff.sign_in", "staff.sign_out"]
