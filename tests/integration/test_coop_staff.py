"""Co-op staff: accounts made on the command line, sign-in on the co-op host with the second factor
always required (set up at the first sign-in), the console's list of tenants, sign-out, and sessions
that are worth nothing on another host."""

from __future__ import annotations

import datetime
import logging
import re
import time
import uuid
from collections.abc import Iterator

import pyotp
import pytest
from click.testing import CliRunner, Result
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts import mfa
from bippop.accounts.auth import COOP_SCOPE
from bippop.accounts.passwords import hash_password
from bippop.accounts.staff_models import Staff, StaffRecoveryCode
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, host, make_person

COOP_HOST = f"coop.{BASE_DOMAIN}"
COOP = {"Host": COOP_HOST}
HTML = {"Accept": "text/html"}
STAFF_PASSWORD = "lanterne violette brouette 71"
WRONG_CREDENTIALS = "The e-mail address or the password is not right."
Client = TestClient[Litestar]


@pytest.fixture
def web(settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        client.cookies.set("bippop_lang", "en")
        yield client


@pytest.fixture(autouse=True)
def fresh_coop_limits(resources: PlatformResources) -> None:
    """Every request of the test client comes from one address: each test starts with the co-op's
    sign-in counters at zero (other tenants' counters are left alone)."""
    redis = resources.redis
    assert redis is not None
    keys = list(redis.scan_iter(match=f"*bippop/t/{COOP_SCOPE}/*"))
    if keys:
        redis.delete(*keys)


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, object]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    args: list[str],
    *,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    from bippop.cli import main

    monkeypatch.setattr("bippop.cli.staff.get_settings", lambda: settings)  # the group is cli/staff.py
    return CliRunner().invoke(main, args, input=input, env=env)


def new_email() -> str:
    return f"staff-{uuid.uuid4().hex[:8]}@coop.example.org"


def create_with_cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, role: str = "coop_operator") -> str:
    email = new_email()
    result = run_cli(
        monkeypatch,
        settings,
        [
            "staff",
            "create",
            "--email",
            email,
            "--name",
            "Camille Ops",
            "--role",
            role,
            "--password-env",
            "STAFF_PW",
        ],
        env={"STAFF_PW": STAFF_PASSWORD},
    )
    assert result.exit_code == 0, result.output
    return email


def enrolled_staff(resources: PlatformResources, settings: Settings) -> tuple[str, str, list[str]]:
    """A staff member with the second factor on (set up a few steps ago); (e-mail, secret, recovery codes)."""
    email = new_email()
    with resources.admin_sessions()() as session, session.begin():
        staff = Staff(
            id=uuid.uuid4(),
            display_name="Dominique Admin",
            email=email,
            password_hash=hash_password(STAFF_PASSWORD),
            roles=["coop_admin"],
        )
        session.add(staff)
        session.flush()
        key = settings.effective_secret_key()
        secret = mfa.start_enrollment(staff, key)
        earlier = time.time() - 120
        codes = mfa.confirm_enrollment(
            session, staff, pyotp.TOTP(secret).at(earlier), key, earlier, code_model=StaffRecoveryCode
        )
    return email, secret, codes


def sign_in(web: Client, email: str, password: str, token: str, **headers: str) -> Response:
    return web.post(
        "/connexion",
        data={"email": email, "password": password, "_csrf_token": token},
        headers={**COOP, **headers},
        follow_redirects=False,
    )


def send_code(web: Client, code: str, token: str) -> Response:
    return web.post(
        "/connexion/code", data={"code": code, "_csrf_token": token}, headers=COOP, follow_redirects=False
    )


def sign_out(web: Client, token: str) -> None:
    out = web.post("/deconnexion", data={"_csrf_token": token}, headers=COOP, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/connexion"


def test_cli_creates_lists_and_disables_staff(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    resources: PlatformResources,
    web: Client,
) -> None:
    email = create_with_cli(monkeypatch, settings, role="coop_admin")
    # The password asked twice, hidden.
    prompted = new_email()
    result = run_cli(
        monkeypatch,
        settings,
        ["staff", "create", "--email", prompted.upper(), "--name", "Sam Prompt", "--role", "coop_operator"],
        input=f"{STAFF_PASSWORD}\n{STAFF_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert STAFF_PASSWORD not in result.output
    with resources.admin_sessions()() as session:
        staff = session.scalar(select(Staff).where(Staff.email == prompted))
        assert staff is not None and staff.roles == ["coop_operator"]
        assert staff.password_hash and STAFF_PASSWORD not in staff.password_hash
        assert staff.totp_confirmed_at is None and staff.disabled_at is None

    refusals = {
        "same address": (
            ["--email", email.upper(), "--name", "Twice", "--role", "coop_admin"],
            STAFF_PASSWORD,
        ),
        "weak password": (["--email", new_email(), "--name", "Weak", "--role", "coop_admin"], "password"),
        "bad address": (
            ["--email", "not-an-address", "--name", "Bad", "--role", "coop_admin"],
            STAFF_PASSWORD,
        ),
    }
    for label, (options, password) in refusals.items():
        refused = run_cli(
            monkeypatch,
            settings,
            ["staff", "create", *options, "--password-env", "STAFF_PW"],
            env={"STAFF_PW": password},
        )
        assert refused.exit_code == 1, (label, refused.output)
    bad_role = run_cli(
        monkeypatch,
        settings,
        ["staff", "create", "--email", new_email(), "--name", "X", "--role", "tenant_admin"],
        env={"STAFF_PW": STAFF_PASSWORD},
    )
    assert bad_role.exit_code == 2

    listing = run_cli(monkeypatch, settings, ["staff", "list"])
    assert listing.exit_code == 0, listing.output
    assert email in listing.output and prompted in listing.output

    # Signed in (not enrolled yet), then disabled: the session ends and the password no longer works.
    token = csrf_token(web, COOP_HOST)
    assert sign_in(web, email, STAFF_PASSWORD, token).status_code == 303
    assert web.get("/equipe/double-authentification", headers=COOP, follow_redirects=False).status_code == 200
    disabled = run_cli(monkeypatch, settings, ["staff", "disable", "--email", email])
    assert disabled.exit_code == 0, disabled.output
    assert "1 session" in disabled.output
    gone = web.get("/equipe/double-authentification", headers={**COOP, **HTML}, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/connexion")
    token = csrf_token(web, COOP_HOST)  # each session has its own CSRF token: the page's current one
    again = sign_in(web, email, STAFF_PASSWORD, token)
    assert again.status_code == 400 and WRONG_CREDENTIALS in again.text
    unknown = run_cli(monkeypatch, settings, ["staff", "disable", "--email", new_email()])
    assert unknown.exit_code == 1


def test_first_sign_in_sets_up_the_second_factor_then_it_is_required(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    web: Client,
    tenant: TenantRef,
    other_tenant: TenantRef,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    email = create_with_cli(monkeypatch, settings)

    # Anonymous: the console's door is the sign-in page.
    door = web.get("/", headers=COOP, follow_redirects=False)
    assert door.status_code == 303 and door.headers["location"] == "/connexion"
    assert "Co-operative console" in web.get("/connexion", headers=COOP).text

    token = csrf_token(web, COOP_HOST)
    first = sign_in(web, email, STAFF_PASSWORD, token)
    assert first.status_code == 303, first.text
    assert first.headers["location"] == "/equipe/double-authentification"
    assert "bippop_session=" in first.headers["set-cookie"]

    # Signed in, but the console stays shut until the second factor is set up.
    shut = web.get("/", headers={**COOP, **HTML}, follow_redirects=False)
    assert shut.status_code == 403
    assert "One more step to protect your account" in shut.text
    assert "Alphaville" not in shut.text

    page = web.get("/equipe/double-authentification", headers=COOP)
    assert page.status_code == 200
    assert 'action="/equipe/double-authentification"' in page.text
    assert "<svg" in page.text
    found = re.search(r'<span class="secret">([A-Z2-7 ]+)</span>', page.text)
    assert found
    secret = found.group(1).replace(" ", "")

    token = csrf_token(web, COOP_HOST)  # signed in: forms carry the session's own CSRF token
    wrong = web.post(
        "/equipe/double-authentification", data={"code": "000000", "_csrf_token": token}, headers=COOP
    )
    assert wrong.status_code == 400 and "This code is not right" in wrong.text
    enrolled = web.post(
        "/equipe/double-authentification",
        data={"code": pyotp.TOTP(secret).now(), "_csrf_token": token},
        headers=COOP,
    )
    assert enrolled.status_code == 200, enrolled.text
    codes = re.findall(r"<li>([0-9A-F]{5}-[0-9A-F]{5})</li>", enrolled.text)
    assert len(codes) == 10
    # Shown once: the page now sends to the console.
    assert (
        web.get("/equipe/double-authentification", headers=COOP, follow_redirects=False).headers["location"]
        == "/"
    )
    console = web.get("/", headers=COOP)
    assert console.status_code == 200 and "Alphaville" in console.text

    sign_out(web, token)
    assert web.get("/", headers=COOP, follow_redirects=False).headers["location"] == "/connexion"

    # Next time: password, then the code from the app (the next one: each code works once).
    token = csrf_token(web, COOP_HOST)  # signed out: a new CSRF token
    second = sign_in(web, email, STAFF_PASSWORD, token)
    assert second.status_code == 303 and second.headers["location"] == "/connexion/code"
    assert web.get("/", headers=COOP, follow_redirects=False).headers["location"] == "/connexion"
    assert send_code(web, "123456", token).status_code == 400
    done = send_code(web, pyotp.TOTP(secret).at(time.time() + 30), token)
    assert done.status_code == 303, done.text
    console = web.get("/", headers=COOP)
    assert console.status_code == 200 and '<table class="list">' in console.text
    searched = web.get("/", params={"q": "alpha"}, headers=COOP)
    assert "Alphaville" in searched.text and "Bétaville" not in searched.text
    assert "<code>alpha</code>" in searched.text
    assert "Active" in searched.text and "Commune" in searched.text
    assert "Bétaville" in web.get("/", params={"q": "Bétaville"}, headers=COOP).text
    assert "0 tenants" in web.get("/", params={"q": "%"}, headers=COOP).text  # no wildcard

    signed_in = _events(caplog, "staff_sign_in")
    assert [e["second_factor"] for e in signed_in] == ["enrollment_required", "totp"]
    assert all(isinstance(e["staff_id"], str) for e in signed_in)
    logged = repr([r.msg for r in caplog.records])
    assert email not in logged and "Camille" not in logged


def test_a_recovery_code_works_once(
    settings: Settings,
    resources: PlatformResources,
    web: Client,
    tenant: TenantRef,
) -> None:
    email, _secret, codes = enrolled_staff(resources, settings)
    token = csrf_token(web, COOP_HOST)
    assert sign_in(web, email, STAFF_PASSWORD, token).headers["location"] == "/connexion/code"
    assert send_code(web, codes[3].lower(), token).status_code == 303
    assert web.get("/", headers=COOP).status_code == 200
    sign_out(web, csrf_token(web, COOP_HOST))  # signed in: the session's own CSRF token
    token = csrf_token(web, COOP_HOST)  # signed out: a new one
    assert sign_in(web, email, STAFF_PASSWORD, token).headers["location"] == "/connexion/code"
    reused = send_code(web, codes[3], token)
    assert reused.status_code == 400 and "This code is not right" in reused.text
    assert web.get("/", headers=COOP, follow_redirects=False).headers["location"] == "/connexion"
    assert send_code(web, codes[4], token).status_code == 303
    with resources.admin_sessions()() as session:
        used = session.scalars(
            select(StaffRecoveryCode.used_at)
            .join(Staff, Staff.id == StaffRecoveryCode.person_id)
            .where(Staff.email == email, StaffRecoveryCode.used_at.is_not(None))
        ).all()
    assert len(used) == 2 and all(isinstance(at, datetime.datetime) for at in used)


def test_sessions_are_worthless_on_the_other_host(
    settings: Settings,
    resources: PlatformResources,
    web: Client,
    tenant: TenantRef,
) -> None:
    # A tenant person's session cookie, sent to the co-op host.
    _, person_email, _ = make_person(resources, tenant, ["volunteer"])
    token = csrf_token(web, "alpha")
    person = web.post(
        "/connexion",
        data={
            "email": person_email,
            "password": DEFAULT_PASSWORD,
            "_csrf_token": token,
            "next_url": "/compte",
        },
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert person.status_code == 303, person.text
    assert web.get("/compte", headers=host("alpha")).status_code == 200
    assert web.get("/", headers=COOP, follow_redirects=False).headers["location"] == "/connexion"
    refused = web.get("/equipe/double-authentification", headers={**COOP, **HTML}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/connexion")

    # A staff member's session cookie (the same cookie name), sent to a tenant's host.
    email, secret, _codes = enrolled_staff(resources, settings)
    token = csrf_token(web, COOP_HOST)  # the tenant session's CSRF token is its own: the page's current one
    assert sign_in(web, email, STAFF_PASSWORD, token).status_code == 303
    assert send_code(web, pyotp.TOTP(secret).now(), token).status_code == 303
    assert web.get("/", headers=COOP).status_code == 200
    tenant_page = web.get("/compte", headers={**host("alpha"), **HTML}, follow_redirects=False)
    assert tenant_page.status_code == 303
    assert tenant_page.headers["location"].startswith("/connexion?next_url=%2Fcompte")


def test_tenant_people_cannot_sign_in_on_the_coop_host_nor_staff_on_a_tenant(
    settings: Settings,
    resources: PlatformResources,
    web: Client,
    tenant: TenantRef,
) -> None:
    _, person_email, _ = make_person(resources, tenant, ["tenant_admin"])
    token = csrf_token(web, COOP_HOST)
    person = sign_in(web, person_email, DEFAULT_PASSWORD, token)
    assert person.status_code == 400 and WRONG_CREDENTIALS in person.text
    assert "bippop_session" not in person.headers.get("set-cookie", "")

    email, _secret, _codes = enrolled_staff(resources, settings)
    staff_on_tenant = web.post(
        "/connexion",
        data={"email": email, "password": STAFF_PASSWORD, "_csrf_token": token},
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert staff_on_tenant.status_code == 400 and WRONG_CREDENTIALS in staff_on_tenant.text
    # The co-op's console pages are not served on a tenant's host.
    assert web.get("/equipe/double-authentification", headers=host("alpha")).status_code == 404


def test_wrong_password_and_unknown_address_get_the_same_answer(
    settings: Settings,
    resources: PlatformResources,
    web: Client,
) -> None:
    email, _secret, _codes = enrolled_staff(resources, settings)
    unknown_email = new_email()
    token = csrf_token(web, COOP_HOST)
    wrong = sign_in(web, email, "nope nope nope", token)
    unknown = sign_in(web, unknown_email, "nope nope nope", token)
    assert wrong.status_code == unknown.status_code == 400
    assert WRONG_CREDENTIALS in wrong.text
    assert wrong.text.replace(email, "ADDRESS") == unknown.text.replace(unknown_email, "ADDRESS")
    empty = sign_in(web, "", "", token)
    assert empty.status_code == 400 and "Enter your e-mail address." in empty.text


def test_sign_in_attempts_are_limited(
    settings: Settings,
    resources: PlatformResources,
    web: Client,
) -> None:
    email, _secret, _codes = enrolled_staff(resources, settings)
    token = csrf_token(web, COOP_HOST)
    for _ in range(5):
        assert sign_in(web, email, "nope nope nope", token).status_code == 400
    limited = sign_in(web, email, STAFF_PASSWORD, token)
    assert limited.status_code == 429
    assert "Too many attempts." in limited.text
    assert "bippop_mfa" not in limited.headers.get("set-cookie", "")

    # The right password does not reset the count while the code is still wrong.
    email, secret, _codes = enrolled_staff(resources, settings)
    assert sign_in(web, email, STAFF_PASSWORD, token).headers["location"] == "/connexion/code"
    for _ in range(4):
        assert send_code(web, "000000", token).status_code == 400
    assert sign_in(web, email, STAFF_PASSWORD, token).status_code == 429
    assert send_code(web, pyotp.TOTP(secret).now(), token).status_code == 429


def test_the_other_sites_keep_their_pages(web: Client, tenant: TenantRef) -> None:
    assert web.get("/", headers={"Host": BASE_DOMAIN}).status_code == 200
    assert "Alphaville" in web.get("/", headers=host("alpha")).text
    assert web.get("/nowhere", headers={**COOP, **HTML}).status_code == 404
    # The public site's sign-in finds a council's portal (tests/integration/test_public_site.py).
    assert web.get("/connexion", headers={"Host": BASE_DOMAIN}).status_code == 200
    # Only sign-in, sign-out and the session's status serve both; the tenants' other pages do not.
    assert web.get("/connexion/lien", headers=COOP).status_code == 404
    assert web.get("/inscription", headers=COOP).status_code == 404
