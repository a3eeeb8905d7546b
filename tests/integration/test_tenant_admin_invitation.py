"""`bippop tenants create --admin-email`: the tenant is created with its administrator's invitation,
mailed by a real worker to a real SMTP server; following the link, the administrator sets a password,
enrols two-step sign-in and manages the tenant's people. A tenant without an administrator is refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from email.message import Message

import dramatiq
import pyotp
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import select, text
from test_mail_delivery import Inbox, free_port, start_smtp, wait_for

from bippop.accounts import mfa
from bippop.accounts.models import AccountToken, AuditEvent, Person
from bippop.app import create_app
from bippop.cli import main as cli_main
from bippop.config import Settings
from bippop.notifications import jobs as notification_jobs  # noqa: F401  (the worker's delivery actor)
from bippop.runtime.operations import create_tenant_with_admin, invite_tenant_admin
from bippop.runtime.resources import PlatformResources, platform_resources, use_resources
from bippop.tenants.errors import TenantError
from support import BASE_DOMAIN, csrf_token, free_commune_code, host, running_worker

PASSWORD = "lanterne verte sur le canal 59"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = start_smtp(inbox, smtp_port)
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp_port: int, inbox: Inbox) -> Iterator[Settings]:
    """The session's settings with the SMTP server of ``inbox`` (started first, for the worker)."""
    previous = platform_resources()
    with_smtp = settings.replace(smtp_url=f"smtp://127.0.0.1:{smtp_port}")
    resources = PlatformResources(with_smtp)
    use_resources(resources)
    try:
        yield with_smtp
    finally:
        use_resources(previous)
        resources.close()


@pytest.fixture
def worker(mail_settings: Settings) -> Iterator[dramatiq.Broker]:
    with running_worker(mail_settings) as broker:
        yield broker


def unused_commune(settings: Settings) -> tuple[str, str]:
    """A commune of the official list that no tenant of this session uses yet, and its name."""
    from bippop.collectivities import find

    code = free_commune_code(settings)
    found = find("commune", code)
    assert found is not None
    return code, found.name


def new_slug() -> str:
    return f"adm-{uuid.uuid4().hex[:8]}"


def link_in(mail: Message) -> str:
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    found = re.search(r"(http://\S+)/lien/([A-Za-z0-9_\-]+)", body)
    assert found, body
    return found.group(0)


def test_invited_administrator_sets_a_password_enrols_mfa_and_manages_people(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox
) -> None:
    slug, email = new_slug(), f"maire-{uuid.uuid4().hex[:6]}@example.org"
    code, name = unused_commune(mail_settings)
    tenant, invitation = create_tenant_with_admin(mail_settings, slug, name, "commune", code, email)
    assert tenant.status == "active" and invitation.email == email
    wait_for(lambda: inbox.to(email))
    (mail,) = inbox.to(email)
    link = link_in(mail)
    # The tenant's registered address (no request, no Host header to trust).
    assert link.startswith(f"http://{slug}.{BASE_DOMAIN}/lien/")
    path = link.split(BASE_DOMAIN, 1)[1]
    ref = tenant.ref()
    with platform_resources().sessions()(info={"tenant": ref}) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation_sent"))
        assert event is not None and event.actor_id is None
        assert event.details["by"] == "platform" and event.details["roles"] == ["tenant_admin"]
        assert event.subject_id == invitation.invitation_id

    app = create_app(mail_settings)
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}) as web:
        assert web.get(path, headers=host(slug)).status_code == 200
        token = csrf_token(web, slug)
        accepted = web.post(
            path,
            data={"display_name": "Anne Maire", "password": PASSWORD, "_csrf_token": token},
            headers=host(slug),
            follow_redirects=False,
        )
        assert accepted.status_code == 303, accepted.text
        # An administrator must set up two-step sign-in before anything else.
        assert accepted.headers["location"] == "/compte/double-authentification"
        assert web.get("/gestion/personnes", headers=host(slug), follow_redirects=False).status_code != 200
        setup = web.get("/compte/double-authentification", headers=host(slug))
        assert setup.status_code == 200
        with platform_resources().sessions()(info={"tenant": ref}) as session:
            person = session.scalar(select(Person).where(Person.email == email))
            assert person is not None and person.roles == ["tenant_admin"]
            secret = mfa.unseal(person.totp_secret or "", mail_settings.effective_secret_key())
        done = web.post(
            "/compte/double-authentification",
            data={"code": pyotp.TOTP(secret).now(), "_csrf_token": web.cookies.get("csrftoken") or token},
            headers=host(slug),
        )
        assert done.status_code == 200 and "recovery codes" in done.text
        people = web.get("/gestion/personnes", headers=host(slug))
        assert people.status_code == 200 and email in people.text


def test_a_new_invitation_replaces_the_lost_one(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox
) -> None:
    slug, email = new_slug(), f"dgs-{uuid.uuid4().hex[:6]}@example.org"
    code, name = unused_commune(mail_settings)
    tenant, first = create_tenant_with_admin(mail_settings, slug, name, "commune", code, email)
    second = invite_tenant_admin(mail_settings, slug, email.upper())
    assert second.email == email and second.invitation_id != first.invitation_id
    wait_for(lambda: len(inbox.to(email)) == 2)
    with platform_resources().sessions()(info={"tenant": tenant.ref()}) as session:
        tokens = {t.id: t for t in session.scalars(select(AccountToken).where(AccountToken.email == email))}
    assert tokens[first.invitation_id].used_at is not None  # the older link no longer works
    assert tokens[second.invitation_id].used_at is None


def test_a_tenant_without_administrator_is_refused(settings: Settings) -> None:
    slug = new_slug()
    code, name = unused_commune(settings)
    for missing in (None, "", "   ", "pas-une-adresse"):
        with pytest.raises(TenantError) as refused:
            create_tenant_with_admin(settings, slug, name, "commune", code, missing)
        assert refused.value.field == "admin_email"
        assert "--admin-email" in str(refused.value) or "adresse" in str(refused.value)
    with platform_resources().admin_engine.connect() as connection:
        assert not connection.execute(
            text("select 1 from platform.tenants where slug = :s"), {"s": slug}
        ).scalar()


def test_cli_explains_why_an_administrator_is_needed() -> None:
    result = CliRunner().invoke(
        cli_main, ["tenants", "create", "nouvelle", "--name", "Beauvais", "--code", "60057"]
    )
    assert result.exit_code == 1
    assert "sans administrateur" in result.output and "--admin-email" in result.output


def test_inviting_for_an_unknown_tenant_is_refused(settings: Settings) -> None:
    with pytest.raises(TenantError):
        invite_tenant_admin(settings, "nulle-part", "someone@example.org")


def test_cli_shows_the_refusal_of_a_code_not_in_the_official_list(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bippop.cli import tenants as tenants_cli

    monkeypatch.setattr(tenants_cli, "get_settings", lambda: settings)
    slug = new_slug()
    result = CliRunner().invoke(
        cli_main,
        [
            "tenants",
            "create",
            slug,
            "--name",
            "Nulle-part",
            "--code",
            "99999",
            "--admin-email",
            "a@example.org",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Refusé" in result.output and "Traceback" not in result.output
    with platform_resources().admin_engine.connect() as connection:
        assert not connection.execute(
            text("select 1 from platform.tenants where slug = :s"), {"s": slug}
        ).scalar()


def test_background_creation_waits_for_the_worker_then_invites(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox
) -> None:
    from bippop.tenants import jobs as tenant_jobs  # noqa: F401  (the worker's provisioning actor)

    slug, email = new_slug(), f"sg-{uuid.uuid4().hex[:6]}@example.org"
    code, name = unused_commune(mail_settings)
    tenant, invitation = create_tenant_with_admin(
        mail_settings, slug, name, "commune", code, email, background=True
    )
    assert invitation.email == email and tenant.slug == slug
    with platform_resources().admin_engine.connect() as connection:
        status = connection.execute(text("select status from platform.tenants where slug = :s"), {"s": slug})
        assert status.scalar() == "active"  # provisioned by the worker before the invitation was written
    wait_for(lambda: inbox.to(email))
    assert link_in(inbox.to(email)[0]).startswith(f"http://{slug}.{BASE_DOMAIN}/lien/")
