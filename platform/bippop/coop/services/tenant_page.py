"""What the console shows of one tenant: its state, plan and price, billing identity, domains,
administrators, this month's usage, lifecycle history (its audit entries, and the state of the export,
deletion and move jobs asked from the console), invoices and support notes.

Everything comes from the platform schema, by this tenant's id only, except its administrators: they
live in the tenant's own schema, read through a session scoped to that tenant (``tenant_session``).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import any_, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock, collectivities
from bippop.accounts.models import AccountToken, Person
from bippop.accounts.services.people import with_role
from bippop.accounts.staff_models import Staff
from bippop.billing.models import BillingProfile, Invoice, Plan
from bippop.billing.periods import calendar_period
from bippop.billing.pricing import plan_as_of, versions_query, yearly_price
from bippop.coop.models import AuditEntry, SupportNote, TenantUsage
from bippop.tenants.models import Tenant

HISTORY_SHOWN = 50
INVOICES_SHOWN = 50
NOTES_SHOWN = 100
# A tenant whose schema exists and can be read (not before provisioning, nor while it moves).
SCHEMA_READABLE = ("active", "suspended", "deleting")
# The console's jobs on a tenant: the audit actions of the request, its success, its failure.
JOBS = {
    "export": ("tenant.export", "tenant.export_done", "tenant.export_failed"),
    "delete": ("tenant.delete", "tenant.delete_done", "tenant.delete_failed"),
    "move": ("tenant.move", "tenant.move_done", "tenant.move_failed"),
}
TenantSession = Callable[[Tenant], Any]  # an async session (context manager) scoped to the tenant


@dataclasses.dataclass(frozen=True)
class Administrator:
    display_name: str
    email: str | None
    disabled: bool


@dataclasses.dataclass(frozen=True)
class PendingInvitation:
    email: str | None
    expires_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    at: datetime.datetime
    action: str
    staff_name: str | None
    target: str | None
    details: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class JobState:
    kind: str
    state: str  # running, done, failed
    at: datetime.datetime
    target: str | None


@dataclasses.dataclass(frozen=True)
class Note:
    at: datetime.datetime
    staff_name: str | None
    body: str


@dataclasses.dataclass(frozen=True)
class TenantOverview:
    tenant: Tenant
    collectivity: collectivities.Collectivity | None
    profile: BillingProfile | None
    plan: Plan | None
    price: Decimal | None
    usage: TenantUsage | None
    administrators: list[Administrator] | None  # None: the schema cannot be read now
    invitations: list[PendingInvitation]
    history: list[HistoryEntry]
    jobs: list[JobState]
    invoices: list[Invoice]
    notes: list[Note]


async def find_tenant(session: AsyncSession, slug: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))


async def overview(
    session: AsyncSession, tenant: Tenant, tenant_session: TenantSession, now: datetime.datetime
) -> TenantOverview:
    profile = await session.get(BillingProfile, tenant.id)
    plan = await session.get(Plan, profile.plan_id) if profile is not None else None
    today = clock.paris_day(now)
    price = None
    if plan is not None and profile is not None:
        # The price the current period began with (a re-pricing applies from the next period on).
        versions = list(await session.scalars(versions_query([plan.id])))
        priced = plan_as_of(plan, versions, calendar_period(plan.period, today).start)
        price = yearly_price(priced, profile.population)
    month = today.replace(day=1)  # the councils' month
    usage = await session.get(TenantUsage, (tenant.id, month))
    history = await _history(session, tenant.id)
    admins, invitations = await _people(tenant, tenant_session, now)
    return TenantOverview(
        tenant=tenant,
        collectivity=collectivities.find(tenant.kind, tenant.official_code),
        profile=profile,
        plan=plan,
        price=price,
        usage=usage,
        administrators=admins,
        invitations=invitations,
        history=history,
        jobs=job_states(history),
        invoices=list(
            await session.scalars(
                select(Invoice)
                .where(Invoice.tenant_id == tenant.id)
                .order_by(Invoice.issued_at.desc())
                .limit(INVOICES_SHOWN)
            )
        ),
        notes=await _notes(session, tenant.id),
    )


async def _history(session: AsyncSession, tenant_id: uuid.UUID) -> list[HistoryEntry]:
    rows = await session.execute(
        select(AuditEntry, Staff.display_name)
        .outerjoin(Staff, Staff.id == AuditEntry.staff_id)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(HISTORY_SHOWN)
    )
    return [
        HistoryEntry(entry.at, entry.action, name, entry.target, dict(entry.details or {}))
        for entry, name in rows
    ]


def job_states(history: Sequence[HistoryEntry]) -> list[JobState]:
    """The latest known state of each job kind asked for this tenant (``history`` newest first)."""
    states: list[JobState] = []
    for kind, (asked, done, failed) in JOBS.items():
        latest = next((e for e in history if e.action in (asked, done, failed)), None)
        if latest is not None:
            state = {asked: "running", done: "done", failed: "failed"}[latest.action]
            states.append(JobState(kind, state, latest.at, latest.target))
    return states


async def running_job(session: AsyncSession, tenant_id: uuid.UUID) -> str | None:
    """The kind of a job asked for this tenant and not finished yet, if any."""
    actions = [action for triple in JOBS.values() for action in triple]
    latest = await session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.tenant_id == tenant_id, AuditEntry.action.in_(actions))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(len(actions))
    )
    seen: set[str] = set()
    for action in latest:
        kind = next(k for k, triple in JOBS.items() if action in triple)
        if kind not in seen and action == JOBS[kind][0]:
            return kind
        seen.add(kind)
    return None


async def _notes(session: AsyncSession, tenant_id: uuid.UUID) -> list[Note]:
    rows = await session.execute(
        select(SupportNote, Staff.display_name)
        .outerjoin(Staff, Staff.id == SupportNote.staff_id)
        .where(SupportNote.tenant_id == tenant_id)
        .order_by(SupportNote.created_at.desc())
        .limit(NOTES_SHOWN)
    )
    return [Note(note.created_at, name, note.body) for note, name in rows]


async def _people(
    tenant: Tenant, tenant_session: TenantSession, now: datetime.datetime
) -> tuple[list[Administrator] | None, list[PendingInvitation]]:
    """The tenant's administrators and unused administrator invitations, read in its own schema."""
    if tenant.status not in SCHEMA_READABLE:
        return None, []
    try:
        opened = tenant_session(tenant)
    except KeyError:  # a cluster this process does not reach
        return None, []
    async with opened as scoped:
        people = await scoped.execute(
            select(Person.display_name, Person.email, Person.disabled_at)
            .where(with_role("tenant_admin"))
            .order_by(Person.display_name, Person.id)
        )
        admins = [Administrator(name, email, disabled is not None) for name, email, disabled in people]
        tokens = await scoped.execute(
            select(AccountToken.email, AccountToken.expires_at)
            .where(
                AccountToken.purpose == "invitation",
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > now,
                literal("tenant_admin") == any_(AccountToken.roles),
            )
            .order_by(AccountToken.expires_at.desc())
        )
        invitations = [PendingInvitation(email, expires) for email, expires in tokens]
    return admins, invitations
