"""The co-op's revenue for a year (read-only): recurring revenue, invoiced, paid, still due and overdue,
by month, by département and by plan; and the accountant's CSV of the year's documents.

- **Recurring** is the annualised value of the subscriptions current today: each tenant's plan (its
  current subscription's, else its billing profile's), priced as of today, for its population.
- **Invoiced** is excluding VAT: the invoices issued in the year minus the credit notes issued in it.
- **Paid** is what was received in the year (payments are amounts including VAT).
- **Due** and **overdue**: the balance of the year's invoices, not yet due or past due.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import collectivities
from bippop.billing.models import CREDIT_NOTE, INVOICE, BillingProfile, Invoice, Payment, Plan, Subscription
from bippop.billing.periods import calendar_period
from bippop.billing.pricing import plan_as_of, versions_query, yearly_price
from bippop.billing.services.ledger import balance_column, paid_column
from bippop.billing.spreadsheet import safe_cell
from bippop.tenants.models import Tenant

ZERO = Decimal("0.00")
SUBSCRIBED = ("active", "suspended", "moving")
UNKNOWN = "—"


def departement_of(kind: str | None, code: str | None) -> str:
    """The département of a tenant's official code: a commune's INSEE code gives it (2 characters, 3
    overseas: 97x), a département is its own, an EPCI's is where most of its inhabitants live."""
    if not kind or not code:
        return UNKNOWN
    if kind == "commune":
        return code[:3] if code.startswith("97") else code[:2]
    if kind == "departement":
        return code
    found = collectivities.find(kind, code)
    return found.departement if found is not None else UNKNOWN


def departement_name(code: str) -> str:
    found = collectivities.find("departement", code) if code != UNKNOWN else None
    return found.name if found is not None else code


@dataclasses.dataclass(frozen=True)
class Document:
    """An invoice or a credit note of the year, with what was paid on it and what is still due."""

    id: uuid.UUID
    number: str
    kind: str
    issue_date: datetime.date
    due_date: datetime.date
    tenant_id: uuid.UUID
    tenant_name: str
    tenant_slug: str
    departement: str
    siret: str
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal
    paid: Decimal
    balance: Decimal

    @property
    def sign(self) -> int:
        return -1 if self.kind == CREDIT_NOTE else 1


@dataclasses.dataclass(frozen=True)
class Received:
    """A payment of the year, with its invoice."""

    id: uuid.UUID
    paid_on: datetime.date
    amount: Decimal
    reference: str
    invoice_number: str
    tenant_slug: str
    tenant_name: str


@dataclasses.dataclass
class Breakdown:
    label: str
    invoiced: Decimal = ZERO
    recurring: Decimal = ZERO
    tenants: int = 0


@dataclasses.dataclass
class Revenue:
    year: int
    recurring: Decimal
    invoiced: Decimal
    paid: Decimal
    due: Decimal
    overdue: Decimal
    months: list[tuple[int, Decimal, Decimal]]  # (month, invoiced, paid)
    by_departement: list[Breakdown]
    by_plan: list[Breakdown]

    @property
    def highest_month(self) -> Decimal:
        return max([max(i, p) for _m, i, p in self.months] + [Decimal(1)])


async def documents(session: AsyncSession, year: int) -> list[Document]:
    rows = await session.execute(
        select(
            Invoice,
            Tenant.name,
            Tenant.slug,
            Tenant.kind,
            Tenant.official_code,
            paid_column(),
            balance_column(),
        )
        .outerjoin(Tenant, Tenant.id == Invoice.tenant_id)
        .where(Invoice.year == year)
        .order_by(Invoice.sequence)
    )
    found = []
    for invoice, name, slug, kind, code, paid, balance in rows:
        credit = invoice.kind == CREDIT_NOTE
        found.append(
            Document(
                id=invoice.id,
                number=invoice.number,
                kind=invoice.kind,
                issue_date=invoice.issue_date,
                due_date=invoice.due_date,
                tenant_id=invoice.tenant_id,
                tenant_name=name or str(invoice.buyer.get("name") or UNKNOWN),
                tenant_slug=slug or "",
                departement=departement_of(kind, code),
                siret=str(invoice.buyer.get("siret") or ""),
                excl_vat=invoice.total_excl_vat,
                vat=invoice.vat_total,
                incl_vat=invoice.total_incl_vat,
                paid=Decimal(paid),
                balance=ZERO if credit else Decimal(balance),
            )
        )
    return found


async def received(session: AsyncSession, year: int) -> list[Received]:
    rows = await session.execute(
        select(Payment, Invoice.number, Tenant.slug, Tenant.name)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .outerjoin(Tenant, Tenant.id == Invoice.tenant_id)
        .where(Payment.paid_on >= datetime.date(year, 1, 1), Payment.paid_on <= datetime.date(year, 12, 31))
        .order_by(Payment.paid_on, Payment.created_at, Payment.id)
    )
    return [
        Received(p.id, p.paid_on, p.amount, p.reference, number, slug or "", name or UNKNOWN)
        for p, number, slug, name in rows
    ]


@dataclasses.dataclass(frozen=True)
class Subscribed:
    tenant_id: uuid.UUID
    departement: str
    plan: str
    yearly: Decimal


async def subscribed(session: AsyncSession, today: datetime.date) -> list[Subscribed]:
    """Each subscribed tenant's plan today and its yearly price (excluding VAT)."""
    current = and_(
        Subscription.tenant_id == Tenant.id,
        Subscription.starts_on <= today,
        or_(Subscription.ends_on.is_(None), Subscription.ends_on > today),
    )
    rows = (
        await session.execute(
            select(
                Tenant.id,
                Tenant.kind,
                Tenant.official_code,
                BillingProfile.population,
                BillingProfile.plan_id,
                Subscription.plan_id,
            )
            .join(BillingProfile, BillingProfile.tenant_id == Tenant.id)
            .outerjoin(Subscription, current)
            .where(Tenant.status.in_(SUBSCRIBED))
        )
    ).all()
    plan_ids = {sub or own for *_rest, own, sub in rows}
    plans = {p.id: p for p in await session.scalars(select(Plan).where(Plan.id.in_(plan_ids)))}
    versions = list(await session.scalars(versions_query(plan_ids)))
    found = []
    for tenant_id, kind, code, population, own, sub in rows:
        plan = plans[sub or own]
        priced = plan_as_of(plan, versions, calendar_period(plan.period, today).start)  # this period's
        found.append(
            Subscribed(tenant_id, departement_of(kind, code), plan.name, yearly_price(priced, population))
        )
    return found


def _breakdown(
    docs: Iterable[Document], subs: Iterable[Subscribed], key_doc: dict[uuid.UUID, str], key_sub: str
) -> list[Breakdown]:
    groups: dict[str, Breakdown] = {}
    for sub in subs:
        label = str(getattr(sub, key_sub))
        group = groups.setdefault(label, Breakdown(label))
        group.recurring += sub.yearly
        group.tenants += 1
    for doc in docs:
        label = key_doc.get(doc.id, UNKNOWN)
        group = groups.setdefault(label, Breakdown(label))
        group.invoiced += doc.sign * doc.excl_vat
    return sorted(groups.values(), key=lambda g: (-g.invoiced, -g.recurring, g.label))


async def revenue(session: AsyncSession, year: int, today: datetime.date) -> Revenue:
    docs = await documents(session, year)
    payments = await received(session, year)
    subs = await subscribed(session, today)
    invoiced_by_month: dict[int, Decimal] = defaultdict(lambda: ZERO)
    paid_by_month: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for doc in docs:
        invoiced_by_month[doc.issue_date.month] += doc.sign * doc.excl_vat
    for payment in payments:
        paid_by_month[payment.paid_on.month] += payment.amount
    open_invoices = [d for d in docs if d.kind == INVOICE and d.balance > 0]
    plan_of = {s.tenant_id: s.plan for s in subs}
    by_departement = _breakdown(docs, subs, {d.id: d.departement for d in docs}, "departement")
    for group in by_departement:
        group.label = (
            f"{group.label} – {departement_name(group.label)}" if group.label != UNKNOWN else UNKNOWN
        )
    return Revenue(
        year=year,
        recurring=sum((s.yearly for s in subs), ZERO),
        invoiced=sum(invoiced_by_month.values(), ZERO),
        paid=sum(paid_by_month.values(), ZERO),
        due=sum((d.balance for d in open_invoices if d.due_date >= today), ZERO),
        overdue=sum((d.balance for d in open_invoices if d.due_date < today), ZERO),
        months=[(m, invoiced_by_month[m], paid_by_month[m]) for m in range(1, 13)],
        by_departement=by_departement,
        by_plan=_breakdown(docs, subs, {d.id: plan_of.get(d.tenant_id, UNKNOWN) for d in docs}, "plan"),
    )


# The accountant's CSV ------------------------------------------------------------------------------

CSV_HEADER = (
    "Numéro",
    "Type",
    "Date",
    "Collectivité",
    "SIRET",
    "Montant HT",
    "TVA",
    "Montant TTC",
    "Payé",
    "Reste dû",
)


def decimal_comma(value: Decimal) -> str:
    """« 1234,56 », « -12,00 »: no grouping (spreadsheets read it as a number)."""
    return f"{value:.2f}".replace(".", ",")


def _cell(text: str) -> str:
    """Text a spreadsheet would take for a formula (« =… ») is kept as text."""
    return safe_cell(text)


def documents_csv(docs: Iterable[Document]) -> bytes:
    """One row per invoice or credit note (a credit note's amounts negative); ``;``-separated, decimal
    comma, UTF-8 with a BOM: what a French spreadsheet opens as it is. The file is for the co-op's
    accountant, in French whatever the page's language."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for doc in docs:
        writer.writerow(
            (
                doc.number,
                "Avoir" if doc.kind == CREDIT_NOTE else "Facture",
                doc.issue_date.strftime("%d/%m/%Y"),
                _cell(doc.tenant_name),
                _cell(doc.siret),
                decimal_comma(doc.sign * doc.excl_vat),
                decimal_comma(doc.sign * doc.vat),
                decimal_comma(doc.sign * doc.incl_vat),
                decimal_comma(doc.paid),
                decimal_comma(doc.balance),
            )
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
