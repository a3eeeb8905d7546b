"""The invoicing run: every period begun by today that has no invoice yet gets one, tenant by tenant.

- **Which periods.** Each subscription of a tenant with a billing profile and a current subscription
  (backfilled from the profile when missing, ``subscriptions.ensure_subscription``) is cut into
  ``periods.billing_periods`` by its plan's period; every one begun by today is due.
- **Idempotent.** A period's invoice has the run key ``<tenant id>:<period start>``; a period whose key
  is issued is skipped, and ``issuing.issue`` returns the one already issued if two runs meet. Each
  tenant is one transaction holding its billing profile locked: two runs at once take the tenants in
  the same order and the second finds the first's invoices; a run that crashed half-way leaves whole
  tenants done or not, and the next run completes the rest (numbers stay consecutive: ``issue``).
- **Priced** with the plan's price as of the period's start (``pricing.plan_as_of``) and the
  population of the official list read then (``periods.population_for_period``), both written on the
  line (label and JSON).
- **Held.** A period that may not be invoiced (``parties.hold_reason``: the co-op's identity incomplete,
  the buyer's SIRET invalid, an engagement number required and missing) gets a ``billing_holds`` row
  with the reason instead; each run tries again, and the hold is marked resolved once invoiced.
- **Documents** are made after the tenant's commit (``documents.store_pdf``): a storage outage never
  costs an invoice its number.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from bippop import clock
from bippop.billing.models import BillingHold, BillingProfile, Invoice, Plan, Subscription
from bippop.billing.periods import (
    Period,
    billing_periods,
    calendar_period,
    period_amount,
    population_for_period,
)
from bippop.billing.pricing import plan_as_of, versions_query
from bippop.billing.services import documents
from bippop.billing.services.issuing import Draft, issue
from bippop.billing.services.parties import (
    PeriodLine,
    buyer_of,
    hold_reason,
    last_day,
    period_label,
    seller_of,
)
from bippop.billing.services.subscriptions import ensure_subscription, lock_profile, subscriptions_of
from bippop.config import Settings
from bippop.storage import Storage
from bippop.tenants.models import Tenant

log = structlog.get_logger(__name__)

BILLED_STATUSES = ("active", "suspended")  # a suspended council still owes its subscription
OnIssued = Callable[[Session, Invoice], Any]


def run_key(tenant_id: uuid.UUID, start: datetime.date) -> str:
    return f"{tenant_id}:{start}"


@dataclasses.dataclass
class TenantRun:
    tenant_id: uuid.UUID
    issued: list[uuid.UUID] = dataclasses.field(default_factory=list)
    held: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (run key, reason)


@dataclasses.dataclass
class RunReport:
    tenants: list[TenantRun] = dataclasses.field(default_factory=list)
    failed: list[uuid.UUID] = dataclasses.field(default_factory=list)

    @property
    def issued(self) -> list[uuid.UUID]:
        return [invoice_id for run in self.tenants for invoice_id in run.issued]


def billable_tenant_ids(session: Session) -> list[uuid.UUID]:
    """Tenants with a billing profile, provisioned and not closed, in a fixed order."""
    return list(
        session.scalars(
            select(BillingProfile.tenant_id)
            .join(Tenant, Tenant.id == BillingProfile.tenant_id)
            .where(Tenant.provisioned_at.is_not(None), Tenant.status.in_(BILLED_STATUSES))
            .order_by(BillingProfile.tenant_id)
        )
    )


def due_periods(subscription: Subscription, plan_period: str, today: datetime.date) -> list[Period]:
    """The subscription's periods begun by ``today``."""
    until = calendar_period(plan_period, today).end
    if subscription.ends_on is not None:
        until = min(until, subscription.ends_on)
    periods = billing_periods(plan_period, subscription.starts_on, until)
    return [period for period in periods if period.start <= today]


def bill_tenant(
    session: Session,
    settings: Settings,
    tenant_id: uuid.UUID,
    today: datetime.date,
    on_issued: OnIssued | None = None,
) -> TenantRun:
    """Invoice (or hold) the tenant's due periods in the caller's transaction; ``on_issued`` is called
    with each invoice issued (the console's audit entry)."""
    run = TenantRun(tenant_id)
    profile = lock_profile(session, tenant_id)
    tenant = session.get(Tenant, tenant_id)
    if profile is None or tenant is None or tenant.status not in BILLED_STATUSES:
        return run  # a portal closed (being deleted) or never opened is not invoiced, on demand either
    if ensure_subscription(session, tenant_id) is None:
        return run
    subscriptions = subscriptions_of(session, tenant_id)
    plans = {
        p.id: p for p in session.scalars(select(Plan).where(Plan.id.in_({s.plan_id for s in subscriptions})))
    }
    versions = list(session.scalars(versions_query(plans)))
    invoiced = {
        key
        for key in session.scalars(select(Invoice.run_key).where(Invoice.tenant_id == tenant_id))
        if key is not None
    }
    reason = hold_reason(profile, settings)
    for subscription in subscriptions:
        plan = plans[subscription.plan_id]
        for period in due_periods(subscription, plan.period, today):
            key = run_key(tenant_id, period.start)
            if key in invoiced:
                continue
            if reason is not None:
                _hold(session, tenant_id, key, period, reason)
                run.held.append((key, reason))
                continue
            priced = plan_as_of(plan, versions, period.start)
            population = population_for_period(tenant.kind, tenant.official_code, profile.population)
            invoice = issue(session, period_draft(settings, profile, priced, period, population, key))
            invoiced.add(key)
            run.issued.append(invoice.id)
            if on_issued is not None:
                on_issued(session, invoice)
    _resolve(session, tenant_id, invoiced)
    return run


def period_draft(
    settings: Settings, profile: BillingProfile, plan: Plan, period: Period, population: int, key: str
) -> Draft:
    amount = period_amount(plan, population, period)
    label = period_label("Abonnement Bip Pop", plan.name, period, population)
    line = PeriodLine(label, Decimal(1), amount, plan.vat_rate, plan_code=plan.code, population=population)
    return Draft(
        tenant_id=profile.tenant_id,
        buyer=buyer_of(profile),
        seller=seller_of(settings),
        lines=[line],
        period_start=period.start,
        period_end=last_day(period),
        run_key=key,
        payment_days=settings.invoice_payment_days,
    )


def _hold(session: Session, tenant_id: uuid.UUID, key: str, period: Period, reason: str) -> None:
    session.execute(
        insert(BillingHold)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            run_key=key,
            period_start=period.start,
            period_end=last_day(period),
            reason=reason,
        )
        .on_conflict_do_update(
            index_elements=["run_key"],
            set_={"reason": reason, "resolved_at": None, "updated_at": clock.now()},
        )
    )


def _resolve(session: Session, tenant_id: uuid.UUID, invoiced: set[str]) -> None:
    """Holds of periods invoiced since are resolved."""
    if invoiced:
        session.execute(
            update(BillingHold)
            .where(
                BillingHold.tenant_id == tenant_id,
                BillingHold.resolved_at.is_(None),
                BillingHold.run_key.in_(sorted(invoiced)),
            )
            .values(resolved_at=clock.now(), updated_at=clock.now())
        )


def run_billing(
    sessions: sessionmaker[Session],
    settings: Settings,
    today: datetime.date,
    *,
    tenant_ids: Sequence[uuid.UUID] | None = None,
    storage: Storage | None = None,
) -> RunReport:
    """The run over ``tenant_ids`` (default: every billable tenant), one transaction each; a tenant that
    fails is logged and left for the next run. With ``storage``, each invoice's PDF is made after its
    tenant's commit (without, the documents' retry job makes them)."""
    report = RunReport()
    if tenant_ids is None:
        with sessions() as session:
            tenant_ids = billable_tenant_ids(session)
    for tenant_id in tenant_ids:
        try:
            with sessions.begin() as session:
                run = bill_tenant(session, settings, tenant_id, today)
        except Exception:
            log.exception("billing_run_tenant_failed", tenant_id=str(tenant_id))
            report.failed.append(tenant_id)
            continue
        report.tenants.append(run)
        if storage is not None:
            for invoice_id in run.issued:
                documents.store_pdf(sessions, storage, invoice_id)
    log.info("billing_run_done", issued=len(report.issued), failed=len(report.failed))
    return report
