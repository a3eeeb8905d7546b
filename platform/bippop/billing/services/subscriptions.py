"""Which plan a tenant is on, from when: ``platform.subscriptions`` (one current row per tenant), and a
change of plan.

- **Backfilled lazily.** A tenant with a billing profile and no subscription yet (the wizard writes the
  profile only) gets one from the profile's plan and its activation day (the Paris day it was
  provisioned) the first time the run or a change of plan asks.
- **A change of plan** on ``day`` ends the current row (``ends_on = day``) and starts the next. When the
  period in progress was already invoiced, it is corrected at once to the cent
  (``periods.plan_change_lines``): a credit note on that invoice for the unused part, and an invoice of
  the new plan from ``day`` to the end of its calendar period (run key ``<tenant>:<day>``: the run then
  sees that period as invoiced, and the new plan's next periods follow it).
- Callers hold the tenant's billing profile locked (``lock_profile``) for the whole transaction: a run
  and a change of plan on one tenant follow each other.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bippop import clock
from bippop.billing.models import CREDIT_NOTE, INVOICE, BillingProfile, Invoice, Plan, Subscription
from bippop.billing.periods import Period, calendar_period, plan_change_lines
from bippop.billing.pricing import plan_as_of, versions_query
from bippop.billing.services.issuing import Draft, Line, issue
from bippop.billing.services.ledger import credited_column
from bippop.billing.services.parties import PeriodLine, buyer_of, period_label, seller_of
from bippop.config import Settings
from bippop.tenants.models import Tenant

_ONE = Decimal(1)


class CreditedInFull(ValueError):
    """A change of plan in a period whose invoice a credit note cancelled in full."""


def lock_profile(session: Session, tenant_id: uuid.UUID) -> BillingProfile | None:
    """The tenant's billing profile, locked until the transaction ends (None without one)."""
    return session.scalar(
        select(BillingProfile)
        .where(BillingProfile.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def current_subscription(session: Session, tenant_id: uuid.UUID) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(Subscription.tenant_id == tenant_id, Subscription.ends_on.is_(None))
    )


def subscriptions_of(session: Session, tenant_id: uuid.UUID) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription).where(Subscription.tenant_id == tenant_id).order_by(Subscription.starts_on)
        )
    )


def activation_day(tenant: Tenant) -> datetime.date | None:
    """The Paris day the tenant was provisioned (its subscription's first day), None before."""
    if tenant.provisioned_at is None:
        return None
    return clock.paris_day(tenant.provisioned_at)


def ensure_subscription(session: Session, tenant_id: uuid.UUID) -> Subscription | None:
    """The tenant's current subscription, created from its billing profile when it never had one; None
    for a tenant without a profile, not provisioned yet, or whose subscriptions all ended."""
    found = current_subscription(session, tenant_id)
    if found is not None:
        return found
    if session.scalar(select(Subscription.id).where(Subscription.tenant_id == tenant_id).limit(1)):
        return None  # it had one, which ended: not subscribed any more
    profile = session.get(BillingProfile, tenant_id)
    tenant = session.get(Tenant, tenant_id)
    starts_on = activation_day(tenant) if tenant is not None else None
    if profile is None or starts_on is None:
        return None
    subscription = Subscription(
        id=uuid.uuid4(), tenant_id=tenant_id, plan_id=profile.plan_id, starts_on=starts_on
    )
    try:
        with session.begin_nested():
            session.add(subscription)
    except IntegrityError:  # another transaction backfilled it first
        return current_subscription(session, tenant_id)
    return subscription


@dataclasses.dataclass(frozen=True)
class PlanChange:
    subscription: Subscription  # the new current one
    documents: list[Invoice]  # the credit note and the invoice of the change, when already invoiced


def change_plan(
    session: Session,
    tenant_id: uuid.UUID,
    plan_id: uuid.UUID,
    day: datetime.date,
    *,
    settings: Settings | None = None,
) -> PlanChange:
    """Move the tenant to plan ``plan_id`` from ``day`` on (see the module's docstring). Raises
    ``LookupError`` without a profile or a current subscription, ``ValueError`` for a day before the
    current subscription's start, one a document of the tenant already starts on (its run keys are
    taken: issuing would hand back that document, not price this change), or in a period whose invoice
    is credited in full."""
    if settings is None:
        from bippop.tenants.resources import platform_resources

        settings = platform_resources().settings
    profile = lock_profile(session, tenant_id)
    current = ensure_subscription(session, tenant_id) if profile is not None else None
    if profile is None or current is None:
        raise LookupError(f"tenant {tenant_id} has no current subscription")
    if day < current.starts_on:
        raise ValueError(f"the change on {day} is before the subscription's start ({current.starts_on})")
    keys = [f"{tenant_id}:{day}", f"{tenant_id}:{day}:credit"]
    if session.scalar(select(Invoice.id).where(Invoice.run_key.in_(keys)).limit(1)) is not None:
        raise ValueError(f"a document of tenant {tenant_id} already starts on {day}")
    old_plan = session.get_one(Plan, current.plan_id)
    new_plan = session.get_one(Plan, plan_id)
    if old_plan.id == new_plan.id:
        return PlanChange(current, [])
    invoiced = _invoice_covering(session, tenant_id, current, old_plan, day)
    if day == current.starts_on:
        current.plan_id = new_plan.id  # the old plan never ran a day
        subscription = current
    else:
        current.ends_on = day
        session.flush()  # the old row stops being current before the new one is
        subscription = Subscription(id=uuid.uuid4(), tenant_id=tenant_id, plan_id=new_plan.id, starts_on=day)
        session.add(subscription)
    profile.plan_id = new_plan.id
    session.flush()
    documents = []
    if invoiced is not None:
        documents = _correct(session, settings, profile, invoiced, old_plan, new_plan, day)
    return PlanChange(subscription, documents)


def _invoice_covering(
    session: Session, tenant_id: uuid.UUID, current: Subscription, plan: Plan, day: datetime.date
) -> Invoice | None:
    """The invoice of the current subscription's period holding ``day``, if it was issued, locked like
    a payment locks it; ``ValueError`` when a credit note cancelled it in full."""
    start = max(current.starts_on, calendar_period(plan.period, day).start)
    invoice = session.scalar(
        select(Invoice)
        .where(Invoice.run_key == f"{tenant_id}:{start}", Invoice.kind == INVOICE)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        return None
    credited = session.scalar(select(credited_column()).where(Invoice.id == invoice.id)) or 0
    if credited >= invoice.total_incl_vat:
        # Credited in full (a credit note issued since the caller looked): its corrected invoice comes
        # first, else the period would be re-billed on the old plan and the change priced nowhere.
        raise CreditedInFull(f"invoice {invoice.number} of the period is credited in full")
    return invoice


def _correct(
    session: Session,
    settings: Settings,
    profile: BillingProfile,
    invoiced: Invoice,
    old_plan: Plan,
    new_plan: Plan,
    day: datetime.date,
) -> list[Invoice]:
    """The credit note of the unused part of ``invoiced`` and the invoice of the new plan from ``day``."""
    assert invoiced.period_start is not None and invoiced.period_end is not None
    period = Period(invoiced.period_start, invoiced.period_end + datetime.timedelta(days=1))
    population = int(invoiced.lines[0].get("population") or profile.population)
    versions = list(session.scalars(versions_query([old_plan.id, new_plan.id])))
    old = plan_as_of(old_plan, versions, period.start)
    new = plan_as_of(new_plan, versions, day)
    credit, charge = plan_change_lines(old, new, population, period, day)
    credit_period = credit.period
    documents = [
        issue(
            session,
            Draft(
                tenant_id=invoiced.tenant_id,
                buyer=invoiced.buyer,
                seller=invoiced.seller,
                lines=[
                    Line(
                        period_label(
                            "Changement de formule, part non utilisée", old.name, credit_period, population
                        ),
                        quantity=_ONE,
                        unit_price=-credit.amount,
                        vat_rate=credit.vat_rate,
                    )
                ],
                period_start=credit_period.start,
                period_end=credit_period.end - datetime.timedelta(days=1),
                run_key=f"{invoiced.tenant_id}:{day}:credit",
                kind=CREDIT_NOTE,
                credits_invoice_id=invoiced.id,
                payment_days=settings.invoice_payment_days,
            ),
        )
    ]
    label = period_label("Abonnement Bip Pop (changement de formule)", new.name, charge.period, population)
    line = PeriodLine(label, _ONE, charge.amount, charge.vat_rate, plan_code=new.code, population=population)
    documents.append(
        issue(
            session,
            Draft(
                tenant_id=invoiced.tenant_id,
                buyer=buyer_of(profile),
                seller=seller_of(settings),
                lines=[line],
                period_start=charge.period.start,
                period_end=charge.period.end - datetime.timedelta(days=1),
                run_key=f"{invoiced.tenant_id}:{day}",
                payment_days=settings.invoice_payment_days,
            ),
        )
    )
    return documents
