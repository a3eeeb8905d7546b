"""Finishing a submitted sign-up, in the worker: provision the tenant (claiming a ready spare schema
when there is one, so it is instant), create its administrator in the tenant's schema (the password
hash and the confirmed TOTP secret of the sign-up, e-mail verified), write its settings (modules,
language) and audit it, then mark the sign-up done and wipe the secrets it kept. Each part checks what
exists first: a retried job creates nothing twice."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from bippop import clock
from bippop.accounts import audit
from bippop.accounts.models import Person
from bippop.accounts.services.admin_invitation import ADMIN_ROLES
from bippop.modules.registry import ENABLED_SETTING, installed_modules
from bippop.onboarding.first_steps import published_statement
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.store import admin_person_id
from bippop.tenants import provisioning
from bippop.tenants.context import TenantRef
from bippop.tenants.migrator import describe_error
from bippop.tenants.models import Tenant
from bippop.tenants.resources import PlatformResources
from bippop.tenants.tenant_settings import Setting
from bippop.web.i18n import LOCALES

log = structlog.get_logger(__name__)


def complete_signup(resources: PlatformResources, signup_id: uuid.UUID) -> str:
    """Run the sign-up to its end; returns its status. A failure is recorded (``failed`` with the error,
    for the co-op's console and the retry button) and raised."""
    with resources.sessions().begin() as session:
        signup = session.get(Signup, signup_id, with_for_update=True)
        if signup is None or signup.status in ("draft", "done") or signup.tenant_id is None:
            return signup.status if signup is not None else "missing"
        signup.status, signup.last_error = "submitted", None
        tenant_id = signup.tenant_id
    try:
        provisioning.provision(
            resources.admin_engine,
            tenant_id,
            base_domain=resources.settings.base_domain,
            host_cache=resources.host_cache,
            cluster_engine=resources.admin_engine_for,
        )
        with resources.sessions()() as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            ref = tenant.ref()
        set_up_tenant(resources, ref, signup_id)
    except Exception as exc:
        record_failure(resources, signup_id, describe_error(exc))
        raise
    with resources.sessions().begin() as session:
        done = session.get(Signup, signup_id, with_for_update=True)
        assert done is not None
        done.status = "done"
        done.last_error = None
        # The administrator has them now: the sign-up keeps no secret.
        done.password_hash = None
        done.totp_secret = None
        done.email_code_hash = None
    note_on_tenant(resources, tenant_id, None)
    log.info("signup_done", signup=str(signup_id), tenant=ref.slug)
    return "done"


def record_failure(resources: PlatformResources, signup_id: uuid.UUID, message: str) -> None:
    """The sign-up ``failed`` with the error, which the tenant's row carries too, for the co-op's console
    (provisioning writes its own; a failure after it, in the administrator's set-up, is written here)."""
    with resources.sessions().begin() as session:
        failed = session.get(Signup, signup_id)
        if failed is None or failed.status == "done":
            return
        failed.status = "failed"
        failed.last_error = message[:2000]
        tenant_id = failed.tenant_id
    note_on_tenant(resources, tenant_id, f"sign-up: {message}"[:2000])
    log.error("signup_failed", signup=str(signup_id), error=message)


def note_on_tenant(resources: PlatformResources, tenant_id: uuid.UUID | None, message: str | None) -> None:
    # As the migrator (the app's role may not write this column): what the console shows of the tenant.
    if tenant_id is None:
        return
    with resources.admin_sessions().begin() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return
        if message is not None:
            tenant.last_error = message
        elif (tenant.last_error or "").startswith("sign-up:"):
            tenant.last_error = None  # provisioning clears its own error when it succeeds


def set_up_tenant(resources: PlatformResources, tenant: TenantRef, signup_id: uuid.UUID) -> None:
    """In the tenant's scope, one transaction: its administrator, settings and audit record."""
    with resources.sessions()() as platform_session:
        signup = platform_session.get(Signup, signup_id)
        assert signup is not None
        answers: dict[str, Any] = dict(signup.answers)
        account = answers.get("account") or {}
        person_values = {
            "display_name": account.get("display_name", "")[:120] or signup.email or "",
            "email": signup.email,
            "password_hash": signup.password_hash,
            "totp_secret": signup.totp_secret,
            "totp_confirmed_at": signup.totp_confirmed_at,
            "totp_last_step": answers.get("totp_step"),
            "email_verified_at": signup.email_verified_at,
        }
    person_id = admin_person_id(signup_id)
    with resources.tenant_session(tenant) as session, session.begin():
        if session.scalar(select(Person.id).where(Person.id == person_id)) is not None:
            return  # done by an earlier run of this job
        if person_values["password_hash"] is None:
            raise RuntimeError("the sign-up lost its administrator's password before the account was made")
        locale = answers.get("locale") if answers.get("locale") in LOCALES else "fr"
        session.add(Person(id=person_id, roles=list(ADMIN_ROLES), locale=locale, **person_values))
        session.flush()
        modules = [slug for slug in answers.get("modules") or [] if slug in installed_modules()]
        write_setting(session, ENABLED_SETTING, modules)
        write_setting(session, "default_locale", locale)
        # A new portal opens to residents when its council says so (the first steps' « Publier »).
        session.execute(published_statement(False))
        audit.record(
            session,
            "tenant_created_by_signup",
            actor_id=person_id,
            subject_type="person",
            subject_id=person_id,
            details={"signup": str(signup_id), "roles": list(ADMIN_ROLES), "modules": modules},
        )
    log.info("signup_admin_created", tenant=tenant.slug, at=clock.now().isoformat())


def write_setting(session: Any, key: str, value: Any) -> None:
    statement = insert(Setting).values(key=key, value=value)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Setting.key], set_={"value": statement.excluded.value}
        )
    )
