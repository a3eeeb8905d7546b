"""« Change plan » on the console: a council asks the co-op to move it to another plan from a day on
(``billing.services.subscriptions.change_plan``, which corrects an invoiced period to the cent).

- **Which plans.** The offered ones (not archived), not the current one.
- **Which day.** From the current period on: not before the current subscription's start, nor before
  the start of the current plan's calendar period holding today (an earlier period is invoiced and
  closed: moving its start would leave the periods after it billed on the old plan), and at the latest
  the first day of the next period (a change agreed ahead for the next year or month). A day in the
  future inside the current period is allowed: its documents are issued at once.
- **Refused days.** A day an invoice of the tenant already starts on (a period's first day once
  invoiced, or the day of an earlier change): ``change_plan`` would find that day's run keys taken and
  issue nothing new. And a period whose invoice is credited in full (issue its corrected invoice
  first) or was issued again after a credit note (``reissue``): ``change_plan`` corrects the run's
  invoice only.
- **The preview** prices the credit note and the new invoice with the same functions as the change
  (``periods.plan_change_lines``, ``issuing.totals``) without writing anything, so what is shown is
  what is issued, to the cent.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bippop.billing.models import INVOICE, BillingProfile, Invoice, Plan, Subscription
from bippop.billing.periods import Period, calendar_period, plan_change_lines
from bippop.billing.pricing import plan_as_of, versions_query
from bippop.billing.services import issuing, reissue
from bippop.billing.services.subscriptions import (
    CreditedInFull,
    activation_day,
    change_plan,
    current_subscription,
    lock_profile,
)
from bippop.config import Settings
from bippop.coop import audit
from bippop.tenants.models import Tenant
from bippop.web.i18n import _

_ONE = Decimal(1)
DAY_LENGTH = 10  # YYYY-MM-DD


def credited_in_full_message() -> str:
    return _(
        "The invoice of this period is credited in full: issue its corrected invoice first, then "
        "change the plan."
    )


@dataclasses.dataclass(frozen=True)
class ChangeForm:
    """What the form offers: the current plan since ``starts_on``, the plans to move to, the days."""

    tenant_id: uuid.UUID
    current_plan: Plan
    starts_on: datetime.date
    plans: list[Plan]
    earliest: datetime.date
    latest: datetime.date


@dataclasses.dataclass(frozen=True)
class Document:
    kind: str  # credit_note, invoice
    period: Period
    excl_vat: Decimal
    incl_vat: Decimal

    @property
    def last_day(self) -> datetime.date:
        return self.period.end - datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class Preview:
    plan: Plan
    day: datetime.date
    corrected: Invoice | None  # the period's invoice the change corrects (None: nothing invoiced yet)
    documents: list[Document]


@dataclasses.dataclass(frozen=True)
class Outcome:
    errors: dict[str, str]
    issued: list[uuid.UUID] = dataclasses.field(default_factory=list)


def change_form(session: Session, tenant: Tenant, today: datetime.date) -> ChangeForm | None:
    """None for a tenant without a billing profile or a current subscription (nothing to change)."""
    profile = session.get(BillingProfile, tenant.id)
    if profile is None:
        return None
    current = current_subscription(session, tenant.id)
    if current is not None:
        plan_id, starts_on = current.plan_id, current.starts_on
    elif (day := activation_day(tenant)) is not None and _never_subscribed(session, tenant.id):
        plan_id, starts_on = profile.plan_id, day  # the subscription the run would backfill
    else:
        return None
    plan = session.get_one(Plan, plan_id)
    period = calendar_period(plan.period, max(today, starts_on))
    plans = session.scalars(
        select(Plan)
        .where(Plan.archived_at.is_(None), Plan.id != plan.id)
        .order_by(Plan.is_default.desc(), Plan.name)
    )
    return ChangeForm(tenant.id, plan, starts_on, list(plans), max(starts_on, period.start), period.end)


def _never_subscribed(session: Session, tenant_id: uuid.UUID) -> bool:
    return session.scalar(select(Subscription.id).where(Subscription.tenant_id == tenant_id).limit(1)) is None


def check(
    session: Session, form: ChangeForm, plan_raw: str, day_raw: str
) -> tuple[dict[str, str], Plan | None, datetime.date | None]:
    """The chosen plan and day, or the message of each field that is wrong."""
    errors: dict[str, str] = {}
    plan = next((p for p in form.plans if str(p.id) == plan_raw.strip()), None)
    if plan is None:
        errors["plan"] = _("Choose one of the plans offered.")
    raw = day_raw.strip()
    try:
        day: datetime.date | None = datetime.date.fromisoformat(raw) if len(raw) == DAY_LENGTH else None
    except ValueError:
        day = None
    if day is None:
        errors["day"] = _("Enter the day of the change as YYYY-MM-DD.")
    elif not form.earliest <= day <= form.latest:
        errors["day"] = _(
            "Choose a day from %(earliest)s to %(latest)s: from the start of the current period "
            "(or of the current plan) to the first day of the next period."
        ) % {"earliest": form.earliest.isoformat(), "latest": form.latest.isoformat()}
    elif (problem := _day_problem(session, form, day)) is not None:
        errors["day"] = problem
    return errors, plan, (day if "day" not in errors else None)


def _day_problem(session: Session, form: ChangeForm, day: datetime.date) -> str | None:
    tenant = form.tenant_id
    taken = session.scalar(
        select(Invoice.number).where(Invoice.run_key.in_([f"{tenant}:{day}", f"{tenant}:{day}:credit"]))
    )
    if taken is not None:
        return _(
            "Invoice %(number)s already starts on this day: a change of plan on it cannot be invoiced. "
            "Choose the next day."
        ) % {"number": taken}
    base = f"{tenant}:{max(form.starts_on, calendar_period(form.current_plan.period, day).start)}"
    invoices = list(
        session.scalars(
            select(Invoice).where(
                Invoice.kind == INVOICE, or_(Invoice.run_key == base, Invoice.run_key.like(f"{base}:r%"))
            )
        )
    )
    standing = [invoice for invoice in invoices if not reissue.fully_credited(session, invoice)]
    if invoices and not standing:
        return credited_in_full_message()
    if any(invoice.run_key != base for invoice in standing):
        return _(
            "The invoice of this period was issued again after a credit note: its plan cannot be "
            "changed inside this period. Choose the first day of the next period."
        )
    return None


def covered(session: Session, form: ChangeForm, day: datetime.date) -> Invoice | None:
    """The invoice of the current plan's period holding ``day``, issued and not credited in full (as
    ``change_plan`` finds it)."""
    start = max(form.starts_on, calendar_period(form.current_plan.period, day).start)
    invoice = session.scalar(
        select(Invoice).where(Invoice.run_key == f"{form.tenant_id}:{start}", Invoice.kind == INVOICE)
    )
    if invoice is None or reissue.fully_credited(session, invoice):
        return None
    return invoice


def preview(session: Session, form: ChangeForm, plan: Plan, day: datetime.date) -> Preview:
    """What the change will issue, priced as ``change_plan`` prices it; nothing written."""
    invoiced = covered(session, form, day)
    if invoiced is None or invoiced.period_start is None or invoiced.period_end is None:
        return Preview(plan, day, None, [])
    period = Period(invoiced.period_start, invoiced.period_end + datetime.timedelta(days=1))
    profile = session.get_one(BillingProfile, form.tenant_id)
    population = int(invoiced.lines[0].get("population") or profile.population)
    versions = list(session.scalars(versions_query([form.current_plan.id, plan.id])))
    old = plan_as_of(form.current_plan, versions, period.start)
    new = plan_as_of(plan, versions, day)
    credit, charge = plan_change_lines(old, new, population, period, day)
    documents = []
    for kind, line in (("credit_note", credit), ("invoice", charge)):
        price = -line.amount if kind == "credit_note" else line.amount
        sums = issuing.totals([issuing.Line("", _ONE, price, line.vat_rate)])
        documents.append(Document(kind, line.period, sums.excl_vat, sums.incl_vat))
    return Preview(plan, day, invoiced, documents)


def perform(
    session: Session,
    settings: Settings,
    staff_id: uuid.UUID,
    tenant: Tenant,
    form_data: dict[str, str],
    today: datetime.date,
) -> Outcome:
    """Change the tenant's plan as the form asks (in the caller's transaction, audited). The tenant's
    billing profile is locked before anything is read: a second change sent at once waits, then is
    checked against what the first one did (its day taken, its plan now the current one)."""
    lock_profile(session, tenant.id)
    form = change_form(session, tenant, today)
    if form is None:
        return Outcome({"plan": _("This tenant has no current subscription to change.")})
    errors, plan, day = check(session, form, form_data.get("plan", ""), form_data.get("day", ""))
    if errors or plan is None or day is None:
        return Outcome(errors)
    try:
        change = change_plan(session, tenant.id, plan.id, day, settings=settings)
    except CreditedInFull:  # checked above under the same lock; kept in case a caller did not lock
        return Outcome({"day": credited_in_full_message()})
    details: dict[str, Any] = {"from_plan": form.current_plan.code, "to_plan": plan.code, "day": str(day)}
    for document in change.documents:
        prefix = "credit_note" if document.kind != INVOICE else "invoice"
        details[prefix] = document.number
        details[f"{prefix}_amount"] = str(document.total_incl_vat)
    audit.record(
        session,
        "tenant.plan_change",
        staff_id=staff_id,
        tenant_id=tenant.id,
        target=str(tenant.id),
        **details,
    )
    return Outcome({}, [document.id for document in change.documents])
