"""Platform tables of billing: the plans the co-op offers and each tenant's billing identity.

A plan's price is for a year; ``pricing.yearly_price`` turns it and a population into an amount.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from advanced_alchemy.base import CommonTableAttributes
from advanced_alchemy.mixins import AuditColumns
from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import PLATFORM_SCHEMA, PlatformBase, PlatformRecord

STAFF_FK = f"{PLATFORM_SCHEMA}.staff.id"
PLAN_KINDS = ("per_inhabitant", "flat", "tiered")
PERIODS = ("yearly", "monthly")


class Plan(PlatformRecord):
    __tablename__ = "plans"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10), default="yearly")
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 4), default=None)
    flat_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    floor_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    cap_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("20.00"))
    is_default: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime.datetime | None] = mapped_column(default=None)


class BillingProfile(AuditColumns, CommonTableAttributes, PlatformBase):
    """Who pays for a tenant and how Chorus Pro identifies them (one row per tenant)."""

    __tablename__ = "billing_profiles"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    # The tenant is the key (no ``id`` of its own).
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="CASCADE"), primary_key=True
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{PLATFORM_SCHEMA}.plans.id"))
    population: Mapped[int]
    population_source: Mapped[str] = mapped_column(String(80), default="")
    legal_name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str] = mapped_column(String(14))
    service_code: Mapped[str | None] = mapped_column(String(100), default=None)
    engagement_required: Mapped[bool] = mapped_column(default=False)
    engagement_number: Mapped[str | None] = mapped_column(String(50), default=None)
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(30), default=None)


INVOICE = "invoice"
CREDIT_NOTE = "credit_note"


class InvoiceSequence(PlatformBase):
    """The last number given in a year (invoices and credit notes share it)."""

    __tablename__ = "invoice_sequences"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    year: Mapped[int] = mapped_column(primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class Invoice(PlatformRecord):
    """An issued invoice or credit note. The database refuses to change what it says or to delete it
    (migration p0008's trigger): a credit note corrects it."""

    __tablename__ = "invoices"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    tenant_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(12))
    number: Mapped[str] = mapped_column(String(20), unique=True)
    year: Mapped[int]
    sequence: Mapped[int]
    issued_at: Mapped[datetime.datetime]
    issue_date: Mapped[datetime.date]
    due_date: Mapped[datetime.date]
    period_start: Mapped[datetime.date | None] = mapped_column(default=None)
    period_end: Mapped[datetime.date | None] = mapped_column(default=None)
    credits_invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.invoices.id"), default=None
    )
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_excl_vat: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat_total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    total_incl_vat: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    seller: Mapped[dict[str, Any]] = mapped_column(JSONB)
    run_key: Mapped[str | None] = mapped_column(String(120), unique=True, default=None)
    pdf_key: Mapped[str | None] = mapped_column(String(300), default=None)
    pdf_error: Mapped[str | None] = mapped_column(default=None)


class PlanPrice(PlatformRecord):
    """A plan's price from ``effective_from`` on: a re-pricing applies to the periods that start on or
    after that day (never to one already begun). Without a row, the plan's own columns are its price."""

    __tablename__ = "plan_prices"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{PLATFORM_SCHEMA}.plans.id", ondelete="CASCADE"))
    effective_from: Mapped[datetime.date]
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 4), default=None)
    flat_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    floor_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    cap_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(STAFF_FK, ondelete="SET NULL"), default=None
    )


class Subscription(PlatformRecord):
    """A tenant on a plan from ``starts_on`` to ``ends_on`` (excluded; None while current)."""

    __tablename__ = "subscriptions"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="CASCADE")
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{PLATFORM_SCHEMA}.plans.id"))
    starts_on: Mapped[datetime.date]
    ends_on: Mapped[datetime.date | None] = mapped_column(default=None)


class BillingHold(PlatformRecord):
    """A period the run did not invoice, and why (``reason`` is a code the console words)."""

    __tablename__ = "billing_holds"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="CASCADE")
    )
    run_key: Mapped[str] = mapped_column(String(120), unique=True)
    period_start: Mapped[datetime.date]
    period_end: Mapped[datetime.date]
    reason: Mapped[str] = mapped_column(String(40))
    resolved_at: Mapped[datetime.datetime | None] = mapped_column(default=None)


SUBMISSION_STATUSES = ("pending", "deposited", "rejected", "paid", "failed")


class InvoiceSubmission(PlatformRecord):
    """An invoice's deposit on Chorus Pro (``channel`` api or export) and what became of it."""

    __tablename__ = "invoice_submissions"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{PLATFORM_SCHEMA}.invoices.id"))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    remote_id: Mapped[str | None] = mapped_column(String(100), default=None)
    reason: Mapped[str | None] = mapped_column(default=None)
    checked_at: Mapped[datetime.datetime | None] = mapped_column(default=None)


class Payment(PlatformRecord):
    """Money received against an invoice (several for a partial payment). Insert-only."""

    __tablename__ = "payments"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{PLATFORM_SCHEMA}.invoices.id"))
    paid_on: Mapped[datetime.date]
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    reference: Mapped[str] = mapped_column(String(100))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(STAFF_FK, ondelete="SET NULL"), default=None
    )


class InvoiceReminder(PlatformRecord):
    """A reminder sent for an overdue invoice (``level`` 1, 2, 3: one of each at most)."""

    __tablename__ = "invoice_reminders"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{PLATFORM_SCHEMA}.invoices.id"))
    level: Mapped[int]
    sent_at: Mapped[datetime.datetime]


class SuspensionProposal(PlatformRecord):
    """Dunning proposes, an operator decides (``decision`` suspended | dismissed): never automatic."""

    __tablename__ = "suspension_proposals"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="CASCADE")
    )
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{PLATFORM_SCHEMA}.invoices.id"), unique=True)
    decision: Mapped[str | None] = mapped_column(String(20), default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(STAFF_FK, ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime.datetime | None] = mapped_column(default=None)
