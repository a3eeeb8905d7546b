"""The co-op's console and billing run: the platform audit log, support notes, one-time enrolment
links for staff, usage per tenant and month, price versions of a plan, subscriptions (which plan a
tenant has from when), invoices held back with their reason, Chorus Pro submissions, payments,
reminders and suspension proposals.

Revision ID: p0010
Revises: p0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "p0010"
down_revision: str | None = "p0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def _now() -> sa.Column[Any]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _updated() -> sa.Column[Any]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _staff(name: str = "staff_id", nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(
        name, sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.staff.id", ondelete="SET NULL"), nullable=nullable
    )


def _invoice(ondelete: str | None = None) -> sa.Column[Any]:
    return sa.Column("invoice_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.invoices.id"), nullable=False)


def upgrade() -> None:
    # Every staff action, append-only (the application may insert and read, never change or delete).
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _staff(),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),  # no foreign key: the log outlives a tenant
        sa.Column("target", sa.String(200), nullable=True),  # an id or a code, never personal data
        sa.Column("details", postgresql.JSONB(), nullable=False, server_default="{}"),
        schema=SCHEMA,
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], schema=SCHEMA)
    op.create_index("ix_audit_log_tenant", "audit_log", ["tenant_id", "at"], schema=SCHEMA)

    op.create_table(
        "support_notes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "tenant_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="CASCADE"), nullable=False
        ),
        _staff(),
        sa.Column("body", sa.Text(), nullable=False),
        _now(),
        _updated(),
        sa.CheckConstraint("length(body) between 1 and 4000", name="ck_support_notes_length"),
        schema=SCHEMA,
    )
    op.create_index("ix_support_notes_tenant", "support_notes", ["tenant_id", "created_at"], schema=SCHEMA)

    # A one-time link to set one's password and second factor (only its SHA-256 is kept).
    op.create_table(
        "staff_enrolments",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "staff_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.staff.id", ondelete="CASCADE"), nullable=False
        ),
        _staff("created_by"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        schema=SCHEMA,
    )
    op.create_index("ix_staff_enrolments_staff", "staff_enrolments", ["staff_id"], schema=SCHEMA)

    # Counts only (no personal data), written by the nightly usage job, read by the console.
    op.create_table(
        "tenant_usage",
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("month", sa.Date(), primary_key=True),  # the first day of the month
        sa.Column("people_helped", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("volunteers", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("requests", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("appointments", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("hours", sa.Numeric(10, 2), nullable=False, server_default="0"),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("extract(day from month) = 1", name="ck_tenant_usage_month"),
        schema=SCHEMA,
    )

    # A plan's price from a day on (re-pricing applies to periods starting on or after it).
    op.create_table(
        "plan_prices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "plan_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.plans.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("unit_price", sa.Numeric(10, 4), nullable=True),
        sa.Column("flat_price", sa.Numeric(12, 2), nullable=True),
        sa.Column("floor_price", sa.Numeric(12, 2), nullable=True),
        sa.Column("cap_price", sa.Numeric(12, 2), nullable=True),
        sa.Column("tiers", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("vat_rate", sa.Numeric(5, 2), nullable=False),
        _staff("created_by"),
        _now(),
        _updated(),
        sa.UniqueConstraint("plan_id", "effective_from", name="uq_plan_prices_day"),
        schema=SCHEMA,
    )

    # Which plan a tenant has from when (a change of plan ends one row and starts the next).
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "tenant_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("plan_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.plans.id"), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),  # excluded; none while current
        _now(),
        _updated(),
        sa.CheckConstraint("ends_on is null or ends_on > starts_on", name="ck_subscriptions_order"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_subscriptions_current",
        "subscriptions",
        ["tenant_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("ends_on is null"),
    )

    # A period the run could not invoice, and why (engagement number missing, invalid SIRET, …).
    op.create_table(
        "billing_holds",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "tenant_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("run_key", sa.String(120), nullable=False, unique=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),  # a code; the console words it
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        _updated(),
        schema=SCHEMA,
    )

    # An invoice's journey through Chorus Pro (one row per deposit attempt that reached it).
    op.create_table(
        "invoice_submissions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _invoice(),
        sa.Column("channel", sa.String(10), nullable=False),  # api | export
        sa.Column("status", sa.String(20), nullable=False),  # pending | deposited | rejected | paid | failed
        sa.Column("remote_id", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        _updated(),
        schema=SCHEMA,
    )
    op.create_index("ix_invoice_submissions_invoice", "invoice_submissions", ["invoice_id"], schema=SCHEMA)

    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _invoice(),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        _staff("recorded_by"),
        _now(),
        _updated(),
        sa.CheckConstraint("amount > 0", name="ck_payments_positive"),
        schema=SCHEMA,
    )
    op.create_index("ix_payments_invoice", "payments", ["invoice_id"], schema=SCHEMA)

    op.create_table(
        "invoice_reminders",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _invoice(),
        sa.Column("level", sa.Integer(), nullable=False),  # 1, 2, 3: which reminder
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _now(),
        _updated(),
        sa.UniqueConstraint("invoice_id", "level", name="uq_invoice_reminders_level"),
        schema=SCHEMA,
    )

    # Never acted on without an operator: ``decision`` is set by a staff member (suspended | dismissed).
    op.create_table(
        "suspension_proposals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "tenant_id", sa.Uuid(), sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="CASCADE"), nullable=False
        ),
        _invoice(),
        sa.Column("decision", sa.String(20), nullable=True),
        _staff("decided_by"),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        _updated(),
        sa.UniqueConstraint("invoice_id", name="uq_suspension_proposals_invoice"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "suspension_proposals",
        "invoice_reminders",
        "payments",
        "invoice_submissions",
        "billing_holds",
        "subscriptions",
        "plan_prices",
        "tenant_usage",
        "staff_enrolments",
        "support_notes",
        "audit_log",
    ):
        op.drop_table(table, schema=SCHEMA)
