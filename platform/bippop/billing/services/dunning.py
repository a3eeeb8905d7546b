"""Dunning: reminders for overdue invoices, then a proposal to suspend — which only an operator decides.

Each day (``dunning_jobs``) every overdue invoice (``ledger.overdue_condition``) is looked at:

- **Reminders.** At ``settings.reminder_days`` days past due (« 7,21,35 ») the billing contact gets the
  reminder of that level (1, 2, 3) by e-mail, through the platform outbox. The ``invoice_reminders``
  row is written first, ``on conflict do nothing``: only the run that wrote it queues the mail, so a
  level is sent once, even by two runs at once. A run that missed days sends the latest level due
  (never the earlier ones late).
- **Proposals.** At ``settings.suspension_proposal_days`` days past due, a ``suspension_proposals``
  row (one per invoice). Nothing is suspended here: the console's ``/relances`` asks an operator.

The operator's decision (``decide``) is audited (``dunning.suspend``, ``dunning.dismiss``).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop.billing.models import BillingProfile, Invoice, InvoiceReminder, SuspensionProposal
from bippop.billing.services.ledger import balance_column, overdue_condition
from bippop.billing.services.payments import Audit
from bippop.config import Settings
from bippop.outbox.platform_mail import queue_platform_email
from bippop.tenants.cache import PendingInvalidations
from bippop.tenants.errors import TenantError
from bippop.tenants.models import Tenant
from bippop.tenants.services import TenantService
from bippop.web import i18n
from bippop.web.formats import day, money
from bippop.web.i18n import _

log = structlog.get_logger(__name__)

SUSPENDED = "suspended"
DISMISSED = "dismissed"


def reminder_levels(spec: str) -> list[tuple[int, int]]:
    """« 7,21,35 » → [(1, 7), (2, 21), (3, 35)]: (level, days past due), in order of days."""
    days = sorted({int(part) for part in spec.replace(" ", "").split(",") if part.strip()})
    return [(level, value) for level, value in enumerate(days, start=1) if value >= 0]


@dataclasses.dataclass
class DunningRun:
    message_ids: list[uuid.UUID] = dataclasses.field(default_factory=list)
    reminders: int = 0
    proposals: int = 0
    skipped: int = 0  # overdue, a reminder due, but no billing contact to write to


def _level_due(levels: list[tuple[int, int]], days_late: int) -> int | None:
    reached = [level for level, days in levels if days_late >= days]
    return max(reached) if reached else None


def _subject(level: int, number: str) -> str:
    if level == 1:
        return _("Reminder: invoice %(number)s is overdue") % {"number": number}
    if level == 2:
        return _("Second reminder: invoice %(number)s is overdue") % {"number": number}
    return _("Last reminder: invoice %(number)s is overdue") % {"number": number}


def reminder_body(settings: Settings, invoice: Invoice, balance: Decimal) -> str:
    """The reminder's text (in the current language: the run sets French)."""
    lines = [
        _("Hello,"),
        "",
        _(
            "Unless we are mistaken, invoice %(number)s of %(issued)s, due on %(due)s, has not been "
            "paid in full. Amount still due: %(amount)s."
        )
        % {
            "number": invoice.number,
            "issued": day(invoice.issue_date, "long"),
            "due": day(invoice.due_date, "long"),
            "amount": money(balance),
        },
        "",
        _("To pay it, please make a bank transfer to %(name)s:") % {"name": settings.coop_name},
        _("IBAN: %(iban)s") % {"iban": settings.coop_iban or "—"},
    ]
    if settings.coop_bic:
        lines.append(_("BIC: %(bic)s") % {"bic": settings.coop_bic})
    lines += [
        _("Please give the invoice number %(number)s as the transfer's reference.")
        % {"number": invoice.number},
        "",
        _("If you have paid it in the meantime, please disregard this message."),
        _("For any question, write to %(email)s.") % {"email": settings.coop_contact_email},
        "",
        settings.coop_name,
    ]
    return "\n".join(lines)


def _remind(
    session: Session,
    settings: Settings,
    invoice: Invoice,
    balance: Decimal,
    level: int,
    email: str,
    now: datetime.datetime,
) -> uuid.UUID | None:
    """Write the level's row; if this run wrote it, queue the mail (its id) — else None."""
    inserted = session.execute(
        insert(InvoiceReminder)
        .values(id=uuid.uuid4(), invoice_id=invoice.id, level=level, sent_at=now)
        .on_conflict_do_nothing(index_elements=["invoice_id", "level"])
        .returning(InvoiceReminder.id)
    ).scalar_one_or_none()
    if inserted is None:
        return None
    message = queue_platform_email(
        session,
        purpose="invoice_reminder",
        recipient=email,
        subject=_subject(level, invoice.number),
        body=reminder_body(settings, invoice, balance),
        reply_to=settings.coop_contact_email,
        dedupe_key=f"invoice-reminder:{invoice.id}:{level}",
    )
    log.info("invoice_reminder_queued", invoice_id=str(invoice.id), level=level)
    return message.id


def _propose(session: Session, invoice: Invoice) -> bool:
    inserted = session.execute(
        insert(SuspensionProposal)
        .values(id=uuid.uuid4(), tenant_id=invoice.tenant_id, invoice_id=invoice.id)
        .on_conflict_do_nothing(index_elements=["invoice_id"])
        .returning(SuspensionProposal.id)
    ).scalar_one_or_none()
    if inserted is not None:
        log.info("suspension_proposed", invoice_id=str(invoice.id), tenant_id=str(invoice.tenant_id))
    return inserted is not None


def _last_levels(session: Session, invoice_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not invoice_ids:
        return {}
    rows = session.execute(
        select(InvoiceReminder.invoice_id, func.max(InvoiceReminder.level))
        .where(InvoiceReminder.invoice_id.in_(invoice_ids))
        .group_by(InvoiceReminder.invoice_id)
    )
    return {invoice_id: int(level) for invoice_id, level in rows}


def run_dunning(
    session: Session, settings: Settings, now: datetime.datetime, today: datetime.date
) -> DunningRun:
    """One day's dunning, in the caller's transaction; the caller announces ``message_ids`` after
    committing."""
    levels = reminder_levels(settings.reminder_days)
    rows = session.execute(
        select(Invoice, balance_column().label("balance"), BillingProfile.contact_email)
        .join(Tenant, Tenant.id == Invoice.tenant_id)  # an invoice of a tenant since removed: no one to dun
        .outerjoin(BillingProfile, BillingProfile.tenant_id == Invoice.tenant_id)
        .where(overdue_condition(today))
        .order_by(Invoice.due_date, Invoice.number)
    ).all()
    sent = _last_levels(session, [row[0].id for row in rows])
    run = DunningRun()
    token = i18n.current_locale.set("fr")  # the councils' language
    try:
        for invoice, balance, email in rows:
            days_late = (today - invoice.due_date).days
            level = _level_due(levels, days_late)
            if level is not None and level > sent.get(invoice.id, 0):
                if not email:
                    run.skipped += 1
                    log.warning("invoice_reminder_without_contact", invoice_id=str(invoice.id))
                elif message_id := _remind(session, settings, invoice, Decimal(balance), level, email, now):
                    run.message_ids.append(message_id)
                    run.reminders += 1
            if days_late >= settings.suspension_proposal_days and _propose(session, invoice):
                run.proposals += 1
    finally:
        i18n.current_locale.reset(token)
    session.flush()
    return run


# The operator's decision ---------------------------------------------------------------------------


@dataclasses.dataclass
class Decision:
    proposal: SuspensionProposal | None
    done: bool = False
    error: str = ""
    hosts: list[str] = dataclasses.field(default_factory=list)  # to clear from the host cache after commit

    @property
    def missing(self) -> bool:
        return self.proposal is None


def _suspend_tenant(session: Session, tenant_id: uuid.UUID, base_domain: str) -> list[str]:
    pending = PendingInvalidations()
    service = TenantService(session, base_domain=base_domain, host_cache=pending)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantError("no such tenant", field="slug")
    service.suspend(tenant)
    return pending.hosts


async def decide(
    session: AsyncSession,
    proposal_id: uuid.UUID,
    decision: str,
    *,
    staff_id: uuid.UUID,
    now: datetime.datetime,
    base_domain: str,
    audit: Audit,
) -> Decision:
    """Suspend the proposal's tenant or dismiss the proposal, once (a second decision is refused), in
    the caller's transaction; ``Decision.hosts`` are cleared from the host cache after its commit."""
    if decision not in (SUSPENDED, DISMISSED):
        raise ValueError(decision)
    proposal = await session.scalar(
        select(SuspensionProposal)
        .where(SuspensionProposal.id == proposal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    outcome = Decision(proposal)
    if proposal is None:
        return outcome
    if proposal.decision is not None:
        outcome.error = _("This proposal has already been decided.")
        return outcome
    if decision == SUSPENDED:
        try:
            outcome.hosts = await session.run_sync(_suspend_tenant, proposal.tenant_id, base_domain)
        except TenantError:
            outcome.error = _("This tenant cannot be suspended now (it is not active).")
            return outcome
    proposal.decision, proposal.decided_by, proposal.decided_at = decision, staff_id, now
    action = "dunning.suspend" if decision == SUSPENDED else "dunning.dismiss"
    audit(
        session,
        action,
        staff_id=staff_id,
        tenant_id=proposal.tenant_id,
        target=str(proposal.invoice_id),
        proposal_id=str(proposal.id),
    )
    await session.flush()
    outcome.done = True
    return outcome


# What the console's ``/relances`` shows ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProposalRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_name: str
    tenant_slug: str
    tenant_status: str
    invoice_id: uuid.UUID
    invoice_number: str
    due_date: datetime.date
    days_overdue: int
    balance: Decimal


@dataclasses.dataclass(frozen=True)
class ReminderRow:
    invoice_id: uuid.UUID
    invoice_number: str
    tenant_name: str
    level: int
    sent_at: datetime.datetime


def _proposal_query() -> Select[*tuple[Any, ...]]:  # the columns of ``_proposal_row``
    query: Select[*tuple[Any, ...]] = (
        select(
            SuspensionProposal.id,
            SuspensionProposal.tenant_id,
            Tenant.name,
            Tenant.slug,
            Tenant.status,
            Invoice.id,
            Invoice.number,
            Invoice.due_date,
            balance_column(),
        )
        .join(Invoice, Invoice.id == SuspensionProposal.invoice_id)
        .join(Tenant, Tenant.id == SuspensionProposal.tenant_id)
    )
    return query


def _proposal_row(row: tuple[Any, ...], today: datetime.date) -> ProposalRow:
    pid, tenant_id, name, slug, status, invoice_id, number, due, balance = row
    return ProposalRow(
        pid, tenant_id, name, slug, status, invoice_id, number, due, (today - due).days, Decimal(balance)
    )


async def awaiting_proposals(session: AsyncSession, today: datetime.date) -> list[ProposalRow]:
    """Proposals no operator has decided on, whose invoice is still unpaid, the oldest debt first."""
    rows = await session.execute(
        _proposal_query()
        .where(SuspensionProposal.decision.is_(None), balance_column() > 0)
        .order_by(Invoice.due_date, Invoice.number)
        .limit(200)
    )
    return [_proposal_row(tuple(row), today) for row in rows]


async def proposal(session: AsyncSession, proposal_id: uuid.UUID, today: datetime.date) -> ProposalRow | None:
    row = (await session.execute(_proposal_query().where(SuspensionProposal.id == proposal_id))).first()
    return _proposal_row(tuple(row), today) if row is not None else None


async def recent_reminders(session: AsyncSession, limit: int = 100) -> list[ReminderRow]:
    rows = await session.execute(
        select(Invoice.id, Invoice.number, Tenant.name, InvoiceReminder.level, InvoiceReminder.sent_at)
        .join(Invoice, Invoice.id == InvoiceReminder.invoice_id)
        .outerjoin(Tenant, Tenant.id == Invoice.tenant_id)
        .order_by(InvoiceReminder.sent_at.desc(), Invoice.number, InvoiceReminder.level.desc())
        .limit(limit)
    )
    return [ReminderRow(i, n, t or "—", lv, at) for i, n, t, lv, at in rows]
