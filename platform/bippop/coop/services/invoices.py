"""The console's invoices: the list with what is owed on each (``billing.services.ledger``), one
invoice with its payments and Chorus Pro deposits, the periods held back, and the actions — issue a
tenant's due invoices now, credit an invoice in full, issue the corrected invoice of a period invoice
credited in full (``billing.services.reissue``) — each audited in its own transaction."""

from __future__ import annotations

import dataclasses
import datetime
import math
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.models import (
    CREDIT_NOTE,
    INVOICE,
    BillingHold,
    Invoice,
    InvoiceSubmission,
    Payment,
)
from bippop.billing.services import issuing, reissue, run, subscriptions
from bippop.billing.services.ledger import balance_column, credited_column, paid_column
from bippop.config import Settings
from bippop.coop import audit
from bippop.tenants.models import Tenant

PAGE_SIZE = 50
STATUSES = ("paid", "partly_paid", "due", "overdue", "credited")


def status_conditions(today: datetime.date) -> dict[str, ColumnElement[bool]]:
    """Each status as a condition on ``Invoice``; one invoice has exactly one (credit notes none)."""
    balance, paid, credited = balance_column(), paid_column(), credited_column()
    is_invoice = Invoice.kind == INVOICE
    owed = and_(is_invoice, credited < Invoice.total_incl_vat, balance > 0)
    return {
        "credited": and_(is_invoice, credited >= Invoice.total_incl_vat),
        "paid": and_(is_invoice, credited < Invoice.total_incl_vat, balance <= 0),
        "overdue": and_(owed, Invoice.due_date < today),
        "partly_paid": and_(owed, Invoice.due_date >= today, paid > 0),
        "due": and_(owed, Invoice.due_date >= today, paid <= 0),
    }


def status_of(
    kind: str, total: Decimal, paid: Decimal, credited: Decimal, due: datetime.date, today: datetime.date
) -> str:
    if kind == CREDIT_NOTE:
        return "credit_note"
    if credited >= total:
        return "credited"
    if total - paid - credited <= 0:
        return "paid"
    if due < today:
        return "overdue"
    return "partly_paid" if paid > 0 else "due"


@dataclasses.dataclass(frozen=True)
class Filters:
    tenant: str = ""  # a slug
    status: str = ""
    month: str = ""  # YYYY-MM, of the issue date

    def month_parts(self) -> tuple[int, int] | None:
        try:
            day = datetime.datetime.strptime(self.month, "%Y-%m")
        except ValueError:
            return None
        return day.year, day.month


@dataclasses.dataclass(frozen=True)
class InvoicePage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


async def list_invoices(
    session: AsyncSession, filters: Filters, today: datetime.date, page: int
) -> InvoicePage:
    conditions: list[ColumnElement[bool]] = []
    if filters.tenant:
        conditions.append(Tenant.slug == filters.tenant)
    if filters.status in STATUSES:
        conditions.append(status_conditions(today)[filters.status])
    if (parts := filters.month_parts()) is not None:
        conditions.append(extract("year", Invoice.issue_date) == parts[0])
        conditions.append(extract("month", Invoice.issue_date) == parts[1])
    base = select(Invoice).outerjoin(Tenant, Tenant.id == Invoice.tenant_id).where(*conditions)
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)
    result = await session.execute(
        select(Invoice, Tenant.name, Tenant.slug, paid_column(), credited_column())
        .outerjoin(Tenant, Tenant.id == Invoice.tenant_id)
        .where(*conditions)
        .order_by(Invoice.issued_at.desc(), Invoice.sequence.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    rows = [
        {
            "invoice": invoice,
            "tenant_name": name or invoice.buyer.get("name", ""),
            "tenant_slug": slug,
            "balance": _balance(invoice, paid, credited),
            "status": status_of(
                invoice.kind, invoice.total_incl_vat, paid, credited, invoice.due_date, today
            ),
        }
        for invoice, name, slug, paid, credited in result
    ]
    return InvoicePage(rows, total, page, pages)


def _balance(invoice: Invoice, paid: Decimal, credited: Decimal) -> Decimal:
    return Decimal(0) if invoice.kind == CREDIT_NOTE else invoice.total_incl_vat - paid - credited


async def open_holds(session: AsyncSession, tenant_slug: str = "") -> list[dict[str, Any]]:
    query = (
        select(BillingHold, Tenant.name, Tenant.slug)
        .join(Tenant, Tenant.id == BillingHold.tenant_id)
        .where(BillingHold.resolved_at.is_(None))
        .order_by(Tenant.name, BillingHold.period_start)
    )
    if tenant_slug:
        query = query.where(Tenant.slug == tenant_slug)
    return [
        {"hold": hold, "tenant_name": name, "tenant_slug": slug}
        for hold, name, slug in await session.execute(query)
    ]


async def invoice_detail(
    session: AsyncSession, invoice_id: uuid.UUID, today: datetime.date
) -> dict[str, Any] | None:
    """Everything the invoice's page shows, or None when there is no such invoice."""
    found = (
        await session.execute(
            select(Invoice, paid_column(), credited_column()).where(Invoice.id == invoice_id)
        )
    ).first()
    if found is None:
        return None
    invoice, paid, credited = found
    tenant = await session.get(Tenant, invoice.tenant_id)
    credit_notes = await session.scalars(
        select(Invoice).where(Invoice.credits_invoice_id == invoice.id).order_by(Invoice.sequence)
    )
    payments = await session.scalars(
        select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.paid_on, Payment.created_at)
    )
    submissions = await session.scalars(
        select(InvoiceSubmission)
        .where(InvoiceSubmission.invoice_id == invoice.id)
        .order_by(InvoiceSubmission.created_at)
    )
    credited_invoice = (
        await session.get(Invoice, invoice.credits_invoice_id) if invoice.credits_invoice_id else None
    )
    refusal = await credit_refusal(session, invoice)
    return {
        "invoice": invoice,
        "tenant": tenant,
        "paid": paid,
        "credited": credited,
        "balance": _balance(invoice, paid, credited),
        "status": status_of(invoice.kind, invoice.total_incl_vat, paid, credited, invoice.due_date, today),
        "vat_by_rate": list(issuing.totals(issuing.lines_of(invoice)).vat_by_rate.items()),
        "credit_notes": list(credit_notes),
        "payments": list(payments),
        "submissions": list(submissions),
        "credited_invoice": credited_invoice,
        "may_credit": refusal is None,
        "credit_refusal": refusal,
        "correction": await _correction(session, credited_invoice or invoice),
    }


async def _correction(session: AsyncSession, invoice: Invoice) -> dict[str, Any] | None:
    """For a period invoice (or the one a credit note credits): whether its corrected invoice may be
    issued now (credited in full, not issued again yet) and the corrected invoice if it was."""
    key = reissue.reissue_key(invoice)
    if key is None:
        return None
    issued = await session.scalar(select(Invoice).where(Invoice.run_key == key))
    credited = await session.scalar(select(credited_column()).where(Invoice.id == invoice.id)) or 0
    may = issued is None and credited >= invoice.total_incl_vat
    if not may and issued is None:
        return None
    return {"original": invoice, "may": may, "issued": issued}


CREDITED = "credited"  # a credit note, or credited in full already
PART_CREDITED = "part_credited"  # a change of plan credited part of it
HAS_PAYMENTS = "has_payments"  # a payment is recorded against it


@dataclasses.dataclass(frozen=True)
class Credit:
    note: Invoice | None
    refusal: str | None = None


async def credit_refusal(session: AsyncSession, invoice: Invoice) -> str | None:
    """Why ``invoice`` may not be credited in full here (None: it may). Part credited: the whole lines
    would credit more than what is left. Paid: the balance would go negative (a refund is arranged
    outside the platform)."""
    if invoice.kind != INVOICE:
        return CREDITED
    credited = await session.scalar(select(credited_column()).where(Invoice.id == invoice.id)) or 0
    if credited >= invoice.total_incl_vat:
        return CREDITED
    if credited > 0:
        return PART_CREDITED
    if await session.scalar(select(Payment.id).where(Payment.invoice_id == invoice.id).limit(1)):
        return HAS_PAYMENTS
    return None


async def credit_in_full(session: AsyncSession, staff_id: uuid.UUID, invoice_id: uuid.UUID) -> Credit | None:
    """The credit note cancelling the invoice (issued once: a second request gets the same one), or
    why it is refused (``credit_refusal``); None when the invoice does not exist. Takes the tenant's
    billing profile's lock, then the invoice's, as a change of plan does (profile → invoice → number):
    a change of plan sent at the same moment waits, then sees the period credited."""
    found = await session.get(Invoice, invoice_id)
    if found is None:
        return None
    tenant_id = found.tenant_id
    await session.run_sync(lambda s: subscriptions.lock_profile(s, tenant_id))
    invoice = await session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if invoice is None:  # pragma: no cover - an issued invoice is never deleted
        return None
    key = f"credit:{invoice.id}"
    already = await session.scalar(select(Invoice).where(Invoice.run_key == key))
    if already is not None:
        return Credit(already)
    if (refusal := await credit_refusal(session, invoice)) is not None:
        return Credit(None, refusal)
    draft = issuing.credit_note_for(invoice, run_key=key)
    note = await session.run_sync(lambda s: issuing.issue(s, draft))
    audit.record(
        session,
        "invoice.credit_note",
        staff_id=staff_id,
        tenant_id=invoice.tenant_id,
        target=str(invoice.id),
        credit_note=note.number,
        amount=str(note.total_incl_vat),
    )
    return Credit(note)


async def reissue_plan(
    session: AsyncSession, settings: Settings, invoice_id: uuid.UUID
) -> reissue.Reissue | None:
    """What « issue the corrected invoice » would issue (the buyer as its billing profile is now), or
    why it is refused; None when there is no such document."""
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        return None
    return await session.run_sync(lambda s: reissue.plan(s, settings, invoice))


async def reissue_invoice(
    session: AsyncSession, settings: Settings, staff_id: uuid.UUID, invoice_id: uuid.UUID
) -> reissue.Reissue | None:
    """The corrected invoice of a period invoice credited in full, issued once (a second submit gets
    the same one, audited once); None when there is no such document."""
    if await session.get(Invoice, invoice_id) is None:
        return None
    done = await session.run_sync(lambda s: reissue.reissue(s, settings, invoice_id))
    if done.draft is not None and done.issued is not None:  # issued by this request
        audit.record(
            session,
            "invoice.reissue",
            staff_id=staff_id,
            tenant_id=done.original.tenant_id,
            target=str(done.original.id),
            number=done.issued.number,
            original=done.original.number,
            amount=str(done.issued.total_incl_vat),
        )
    return done


async def issue_for_tenant(
    session: AsyncSession, settings: Settings, staff_id: uuid.UUID, tenant_id: uuid.UUID, today: datetime.date
) -> run.TenantRun:
    """The tenant's due invoices issued now (or held, with the reason), each issue audited."""

    def audited(sync_session: Any, invoice: Invoice) -> None:
        audit.record(
            sync_session,
            "invoice.issue",
            staff_id=staff_id,
            tenant_id=tenant_id,
            target=str(invoice.id),
            number=invoice.number,
            amount=str(invoice.total_incl_vat),
        )

    return await session.run_sync(lambda s: run.bill_tenant(s, settings, tenant_id, today, audited))


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    if not slug or len(slug) > 40:
        return None
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))
