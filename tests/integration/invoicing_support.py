"""The invoicing tests' kit: bare tenants (platform rows only), their billing profiles and plans, in a
year of the test's own, and a co-op identity complete enough to invoice."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from bippop.billing.models import BillingHold, BillingProfile, Invoice, Plan
from bippop.billing.services import run
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.models import Tenant
from support import HandClock, fresh_invoice_year

SIRET = "21690123100011"
COOP_IDENTITY = {
    "coop_siren": "123456782",
    "coop_vat_number": "FR11123456782",
    "coop_iban": "FR7630006000011234567890189",
    "coop_bic": "AGRIFRPP",
    "coop_address": "12 rue des Tilleuls",
    "coop_postcode": "75011",
    "coop_city": "Paris",
}


class Billing:
    """Bare tenants (platform rows only: the run reads nothing else), their profiles and plans, in a
    year of the test's own (its invoice sequence starts afresh); all removed afterwards."""

    def __init__(self, resources: PlatformResources, settings: Settings) -> None:
        self.resources = resources
        self.settings = settings.replace(**COOP_IDENTITY)
        self.year = fresh_invoice_year(resources)
        self.tenants: list[uuid.UUID] = []
        self.plans: list[uuid.UUID] = []
        with resources.admin_sessions().begin() as session:
            self.revision = session.scalar(
                select(Tenant.revision).where(Tenant.revision.is_not(None)).limit(1)
            )

    def day(self, month: int = 1, day: int = 1) -> datetime.date:
        return datetime.date(self.year, month, day)

    def clock(self, month: int = 3, day: int = 1) -> HandClock:
        return HandClock(datetime.datetime(self.year, month, day, 9, tzinfo=datetime.UTC))

    def plan(self, period: str = "yearly", unit_price: str = "0.25", **columns: Any) -> Plan:
        plan = Plan(
            id=uuid.uuid4(),
            code=f"t-{uuid.uuid4().hex[:10]}",
            name="Essai",
            kind=columns.pop("kind", "per_inhabitant"),
            period=period,
            unit_price=Decimal(unit_price),
            vat_rate=Decimal("20.00"),
            archived_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),  # offered to nobody
            **columns,
        )
        with self.resources.admin_sessions().begin() as session:
            session.add(plan)
        self.plans.append(plan.id)
        return plan

    def tenant(
        self, plan: Plan, *, since: datetime.date | None = None, population: int = 16420, **profile: Any
    ) -> uuid.UUID:
        tenant_id = uuid.uuid4()
        tag = tenant_id.hex[:12]
        start = since or self.day()
        with self.resources.admin_sessions().begin() as session:
            session.add(
                Tenant(
                    id=tenant_id,
                    slug=f"fac-{tag}",
                    name=f"Commune {tag}",
                    kind="commune",
                    official_code=f"Z{tag[:8]}",  # on no official list: the profile's population counts
                    status="active",
                    schema_name=f"t_fac_{tag}",
                    db_role=f"r_fac_{tag}",
                    revision=self.revision,
                    provisioned_at=datetime.datetime.combine(start, datetime.time(9), datetime.UTC),
                )
            )
            session.flush()
            session.add(
                BillingProfile(
                    tenant_id=tenant_id,
                    plan_id=plan.id,
                    population=population,
                    legal_name=f"Commune {tag}",
                    siret=profile.pop("siret", SIRET),
                    contact_name="Camille Compta",
                    contact_email="compta@example.org",
                    **profile,
                )
            )
        self.tenants.append(tenant_id)
        return tenant_id

    def run(
        self, tenant_ids: list[uuid.UUID], today: datetime.date | None = None, **kwargs: Any
    ) -> run.RunReport:
        return run.run_billing(
            self.resources.sessions(),
            kwargs.pop("settings", self.settings),
            today or self.day(3, 1),
            tenant_ids=tenant_ids,
            **kwargs,
        )

    def invoices(self, tenant_id: uuid.UUID | None = None) -> list[Invoice]:
        query = select(Invoice).where(Invoice.year == self.year)
        if tenant_id is not None:  # the tenant's whatever the year (the console issues in today's)
            query = select(Invoice).where(Invoice.tenant_id == tenant_id)
        with self.resources.sessions()() as session:
            return list(session.scalars(query.order_by(Invoice.sequence)))

    def holds(self, tenant_id: uuid.UUID) -> list[BillingHold]:
        with self.resources.sessions()() as session:
            return list(session.scalars(select(BillingHold).where(BillingHold.tenant_id == tenant_id)))

    def cleanup(self) -> None:
        with self.resources.admin_sessions().begin() as session:
            session.execute(delete(Tenant).where(Tenant.id.in_(self.tenants)))
            session.execute(delete(Plan).where(Plan.id.in_(self.plans)))


def billing_kit(resources: PlatformResources, settings: Settings) -> Iterator[Billing]:
    """For a fixture: ``yield from billing_kit(resources, settings)``."""
    kit = Billing(resources, settings)
    try:
        yield kit
    finally:
        kit.cleanup()
