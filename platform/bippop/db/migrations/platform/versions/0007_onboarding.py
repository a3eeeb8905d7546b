"""Councils sign up alone: plans (the co-op's price list), the billing identity of each tenant, the
sign-up drafts of the onboarding wizard, the platform's own outbox (mail sent before a tenant exists:
e-mail verification, the public contact form), and custom domains verified by a DNS TXT record.

The application role may now record a tenant (the wizard registers it; provisioning stays with the
migrator) and change what its administrator edits (name, theme, branding) — only those columns.

Revision ID: p0007
Revises: p0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "p0007"
down_revision: str | None = "p0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),  # per_inhabitant | flat | tiered
        sa.Column("period", sa.String(10), nullable=False, server_default="yearly"),  # yearly | monthly
        sa.Column("unit_price", sa.Numeric(10, 4), nullable=True),  # per inhabitant per year
        sa.Column("flat_price", sa.Numeric(12, 2), nullable=True),  # per year
        sa.Column("floor_price", sa.Numeric(12, 2), nullable=True),
        sa.Column("cap_price", sa.Numeric(12, 2), nullable=True),
        # [{"up_to": 5000, "price": "900.00"}, …, {"up_to": null, "price": "…"}]: yearly price per band
        sa.Column("tiers", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("vat_rate", sa.Numeric(5, 2), nullable=False, server_default="20.00"),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_plans_one_default",
        "plans",
        ["is_default"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("is_default"),
    )
    op.execute(
        "insert into platform.plans (id, code, name, kind, period, unit_price, vat_rate, is_default) values "
        "('6d1e4c1a-3f43-4d8a-9a0e-5b0c2a5f0001', 'standard', 'Standard', 'per_inhabitant', 'yearly', "
        "0.2500, 20.00, true)"
    )
    op.create_table(
        "billing_profiles",
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="CASCADE", name="fk_billing_profiles_tenant"),
            primary_key=True,
        ),
        sa.Column(
            "plan_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.plans.id", name="fk_billing_profiles_plan"),
            nullable=False,
        ),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("population_source", sa.String(80), nullable=False, server_default=""),
        sa.Column("legal_name", sa.String(200), nullable=False),
        sa.Column("siret", sa.String(14), nullable=False),
        sa.Column("service_code", sa.String(100), nullable=True),  # Chorus Pro « code service »
        sa.Column("engagement_required", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("engagement_number", sa.String(50), nullable=True),
        sa.Column("contact_name", sa.String(120), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("contact_phone", sa.String(30), nullable=True),
        *_stamps(),
        schema=SCHEMA,
    )
    op.create_table(
        "signups",
        sa.Column("id", sa.Uuid(), primary_key=True),
        # SHA-256 of the secret the browser keeps in a cookie (and the e-mailed "resume" link carries).
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="draft"),
        sa.Column("answers", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("step_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("email_code_hash", sa.String(64), nullable=True),
        sa.Column("email_code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_code_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("totp_secret", sa.Text(), nullable=True),  # sealed (bippop.sealing)
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="SET NULL", name="fk_signups_tenant"),
            nullable=True,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *_stamps(),
        schema=SCHEMA,
    )
    op.create_index("ix_signups_expires_at", "signups", ["expires_at"], schema=SCHEMA)
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("reply_to", sa.String(254), nullable=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedupe_key", sa.String(120), nullable=True, unique=True),
        *_stamps(),
        schema=SCHEMA,
    )
    op.create_index("ix_platform_outbox_status", "outbox_messages", ["status", "created_at"], schema=SCHEMA)
    op.add_column("domains", sa.Column("verification_token", sa.String(64), nullable=True), schema=SCHEMA)
    op.add_column(
        "domains", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "domains",
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=SCHEMA,
    )
    # Domains recorded before verification existed were added by an operator: they are trusted, and the
    # oldest of each tenant stays its primary address.
    op.execute("update platform.domains set verified_at = coalesce(created_at, now())")
    op.execute(
        "update platform.domains d set is_primary = true where d.id = (select d2.id from platform.domains d2 "
        "where d2.tenant_id = d.tenant_id order by d2.created_at, d2.hostname limit 1)"
    )
    op.create_index(
        "uq_domains_one_primary",
        "domains",
        ["tenant_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("is_primary"),
    )
    op.create_index("ix_tenants_official_code", "tenants", ["kind", "official_code"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_tenants_official_code", "tenants", schema=SCHEMA)
    op.drop_index("uq_domains_one_primary", "domains", schema=SCHEMA)
    for column in ("is_primary", "verified_at", "verification_token"):
        op.drop_column("domains", column, schema=SCHEMA)
    op.drop_table("outbox_messages", schema=SCHEMA)
    op.drop_table("signups", schema=SCHEMA)
    op.drop_table("billing_profiles", schema=SCHEMA)
    op.drop_table("plans", schema=SCHEMA)
