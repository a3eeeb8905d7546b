"""What staff do to a tenant from the console: suspend, reactivate, export, delete after a grace period,
move to another cluster, resend the administrator's invitation, add or remove a custom domain, write a
support note. Each applies its rules, records its audit entry in the caller's transaction and returns
an ``ActionOutcome``; the handler commits, then clears the host cache, enqueues the job or announces
the mail the outcome carries.

Suspension and domains go through the tenant registry (``TenantService``, synchronous, via
``run_sync``): the application's role may change a tenant's status and its domains. Export, deletion
and moves need the migrator's connection: they are jobs (``coop/lifecycle_jobs.py``), and the page shows
their progress from the audit entries the jobs add when they finish.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop.accounts.services.admin_invitation import invite_admin
from bippop.accounts.services.links import looks_like_email, normalise_email
from bippop.accounts.staff_models import Staff
from bippop.config import Settings
from bippop.coop.audit import record
from bippop.coop.models import SupportNote
from bippop.coop.services.tenant_page import TenantSession, running_job
from bippop.tenants.cache import PendingInvalidations
from bippop.tenants.context import TenantRef
from bippop.tenants.errors import TenantError
from bippop.tenants.models import Tenant
from bippop.tenants.services import TenantService
from bippop.web.forms import first_text, form_problems
from bippop.web.i18n import _

NOTE_MAX = 4000
GRACE_DAYS = (1, 365)
DEFAULT_GRACE_DAYS = 30
EXPORTABLE = ("active", "suspended")


@dataclasses.dataclass(frozen=True)
class Job:
    """A job to enqueue once the request is committed (ids and codes only)."""

    kind: str  # export, delete, move
    tenant_id: uuid.UUID
    staff_id: uuid.UUID
    grace_days: int = DEFAULT_GRACE_DAYS
    cluster: str = ""


@dataclasses.dataclass(frozen=True)
class ActionOutcome:
    done: bool = False
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    hosts: list[str] = dataclasses.field(default_factory=list)  # to clear from the host cache
    job: Job | None = None
    messages: list[uuid.UUID] = dataclasses.field(default_factory=list)  # mail to announce
    tenant: TenantRef | None = None  # whose outbox holds ``messages``


def refused(field: str, message: str) -> ActionOutcome:
    return ActionOutcome(errors={field: message})


async def _registry(
    session: AsyncSession, tenant: Tenant, settings: Settings, change: Callable[[TenantService, Tenant], Any]
) -> tuple[Any, list[str]]:
    """``change`` through the registry in the caller's transaction; (its result, the hosts to clear)."""
    pending = PendingInvalidations()

    def run(sync: Session) -> Any:
        service = TenantService(sync, base_domain=settings.base_domain, host_cache=pending)
        return change(service, tenant)

    result = await session.run_sync(run)
    return result, pending.hosts


async def change_status(
    session: AsyncSession, tenant: Tenant, staff: Staff, settings: Settings, verb: str
) -> ActionOutcome:
    """``verb`` is ``suspend`` (an active tenant) or ``reactivate`` (a suspended one)."""
    if verb == "suspend" and tenant.status != "active":
        return refused("form", _("Only an active tenant can be suspended."))
    if verb == "reactivate" and tenant.status != "suspended":
        return refused("form", _("This tenant is not suspended."))
    before = tenant.status
    try:
        _result, hosts = await _registry(session, tenant, settings, lambda s, t: getattr(s, verb)(t))
    except TenantError:
        return refused("form", _("This tenant's state changed meanwhile: reload the page."))
    record(
        session, f"tenant.{verb}", staff_id=staff.id, tenant_id=tenant.id, target=tenant.slug, before=before
    )
    return ActionOutcome(done=True, hosts=hosts)


async def ask_export(session: AsyncSession, tenant: Tenant, staff: Staff) -> ActionOutcome:
    if tenant.status not in EXPORTABLE:
        return refused("form", _("Only an active or suspended tenant can be exported."))
    if await running_job(session, tenant.id) is not None:
        return refused("form", _("A job is already running for this tenant: wait for it to finish."))
    record(session, "tenant.export", staff_id=staff.id, tenant_id=tenant.id, target=tenant.slug)
    return ActionOutcome(done=True, job=Job("export", tenant.id, staff.id))


def grace_days(form: Mapping[str, Any]) -> int | None:
    raw = first_text(form, "grace_days").strip()
    try:
        days = int(raw) if raw else DEFAULT_GRACE_DAYS
    except ValueError:
        return None
    return days if GRACE_DAYS[0] <= days <= GRACE_DAYS[1] else None


async def ask_deletion(
    session: AsyncSession, tenant: Tenant, staff: Staff, form: Mapping[str, Any]
) -> ActionOutcome:
    """Close the portal now and delete everything after the grace period; an export must exist."""
    days = grace_days(form)
    if days is None:
        return refused("grace_days", _("Enter a number of days between 1 and 365."))
    if tenant.status not in EXPORTABLE:
        return refused("form", _("Only an active or suspended tenant can be deleted."))
    if not tenant.last_export_key:
        return refused("form", _("Export this tenant first: the deletion cannot be undone."))
    if await running_job(session, tenant.id) is not None:
        return refused("form", _("A job is already running for this tenant: wait for it to finish."))
    record(
        session, "tenant.delete", staff_id=staff.id, tenant_id=tenant.id, target=tenant.slug, grace_days=days
    )
    return ActionOutcome(done=True, job=Job("delete", tenant.id, staff.id, grace_days=days))


def other_clusters(tenant: Tenant, settings: Settings) -> list[str]:
    return sorted(name for name in settings.cluster_urls() if name != tenant.cluster)


async def ask_move(
    session: AsyncSession, tenant: Tenant, staff: Staff, form: Mapping[str, Any], settings: Settings
) -> ActionOutcome:
    cluster = first_text(form, "cluster").strip()
    if cluster not in other_clusters(tenant, settings):
        return refused("cluster", _("Choose another cluster from the list."))
    if tenant.status != "active":
        return refused("form", _("Only an active tenant can be moved."))
    if await running_job(session, tenant.id) is not None:
        return refused("form", _("A job is already running for this tenant: wait for it to finish."))
    record(
        session, "tenant.move", staff_id=staff.id, tenant_id=tenant.id, target=cluster, source=tenant.cluster
    )
    return ActionOutcome(done=True, job=Job("move", tenant.id, staff.id, cluster=cluster))


async def invite_administrator(
    session: AsyncSession,
    tenant: Tenant,
    staff: Staff,
    form: Mapping[str, Any],
    settings: Settings,
    tenant_session: TenantSession,
) -> ActionOutcome:
    """A new invitation of an administrator (the previous unused one to the address stops working),
    written in the tenant's schema; the audit entry names the invitation, never the address."""
    email = normalise_email(first_text(form, "email"))
    if not looks_like_email(email) or form_problems({"email": email}):
        return refused("email", _("Enter an e-mail address, like name@mairie.fr."))
    if tenant.status != "active":
        return refused("form", _("The tenant must be active to invite its administrator."))
    ref = tenant.ref()
    async with tenant_session(tenant) as scoped:
        invitation = await scoped.run_sync(lambda sync: invite_admin(sync, ref, email, settings))
        await scoped.commit()
    record(
        session,
        "tenant.invite_admin",
        staff_id=staff.id,
        tenant_id=tenant.id,
        target=str(invitation.invitation_id),
    )
    return ActionOutcome(done=True, messages=[invitation.message_id], tenant=ref)


def domain_error(code: str | None) -> str:
    """The registry's refusal of a domain, in the reader's language."""
    if code == "base_domain":
        return _("This name is under the platform's domain: the tenant's subdomain already serves it.")
    if code == "taken":
        return _("This domain is already used.")
    return _("This is not a domain name: write it like aide.mairie-exemple.fr.")


async def add_domain(
    session: AsyncSession, tenant: Tenant, staff: Staff, hostname: str, settings: Settings
) -> ActionOutcome:
    """A domain staff add is trusted (served at once, the main address if it is the first)."""
    if not hostname.strip() or len(hostname) > 253 or form_problems({"domain": hostname}):
        return refused("domain", domain_error("invalid"))
    try:
        domain, hosts = await _registry(session, tenant, settings, lambda s, t: s.add_domain(t, hostname))
    except TenantError as exc:
        return refused("domain", domain_error(exc.code))
    record(
        session,
        "tenant.domain_add",
        staff_id=staff.id,
        tenant_id=tenant.id,
        target=str(domain.id),
        hostname=domain.hostname,
    )
    return ActionOutcome(done=True, hosts=hosts)


async def remove_domain(
    session: AsyncSession, tenant: Tenant, staff: Staff, domain_id: uuid.UUID, settings: Settings
) -> ActionOutcome:
    domain = next((d for d in tenant.domains if d.id == domain_id), None)
    if domain is None:
        return refused("domain", _("This domain is not one of this tenant's."))
    hostname = domain.hostname
    _result, hosts = await _registry(session, tenant, settings, lambda s, t: s.remove_domain(t, hostname))
    record(
        session,
        "tenant.domain_remove",
        staff_id=staff.id,
        tenant_id=tenant.id,
        target=str(domain_id),
        hostname=hostname,
    )
    return ActionOutcome(done=True, hosts=hosts)


async def add_note(session: AsyncSession, tenant: Tenant, staff: Staff, body: str) -> ActionOutcome:
    """A support note; the audit entry names it, never its text."""
    text = body.strip()
    problems = form_problems({"body": text}, multiline=("body",))
    if problems:
        return ActionOutcome(errors=problems)
    if not 1 <= len(text) <= NOTE_MAX:
        return refused("body", _("Write a note of 1 to 4000 characters."))
    note = SupportNote(id=uuid.uuid4(), tenant_id=tenant.id, staff_id=staff.id, body=text)
    session.add(note)
    record(session, "tenant.note_add", staff_id=staff.id, tenant_id=tenant.id, target=str(note.id))
    return ActionOutcome(done=True)


VERBS = ("suspend", "reactivate", "export", "delete", "move", "invite")


async def perform(
    session: AsyncSession,
    verb: str,
    tenant: Tenant,
    staff: Staff,
    form: Mapping[str, Any],
    settings: Settings,
    tenant_session: TenantSession,
) -> ActionOutcome:
    """One of ``VERBS``, asked from its confirmation page."""
    problems = form_problems(form)
    if problems:
        return ActionOutcome(errors=problems)
    # One action at a time per tenant: a second one asked at once waits here, then sees the first's
    # audit entry (an export and a deletion, or a deletion and a move, are never both accepted).
    await session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    if verb in ("suspend", "reactivate"):
        return await change_status(session, tenant, staff, settings, verb)
    if verb == "export":
        return await ask_export(session, tenant, staff)
    if verb == "delete":
        return await ask_deletion(session, tenant, staff, form)
    if verb == "move":
        return await ask_move(session, tenant, staff, form, settings)
    if verb == "invite":
        return await invite_administrator(session, tenant, staff, form, settings, tenant_session)
    raise ValueError(f"unknown action {verb!r}")
