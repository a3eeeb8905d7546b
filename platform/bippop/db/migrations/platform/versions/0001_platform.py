"""Platform schema: tenants and their domains.

Revision ID: p0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "p0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("slug", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("official_code", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("db_role", sa.String(63), nullable=False),
        sa.Column("revision", sa.String(32), nullable=True),
        sa.Column("theme", sa.String(40), nullable=False, server_default="base"),
        sa.Column("branding", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provisioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('commune', 'epci', 'departement')", name="ck_tenants_kind"),
        sa.CheckConstraint(
            "status in ('pending', 'provisioning', 'active', 'failed', 'suspended')", name="ck_tenants_status"
        ),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
        sa.UniqueConstraint("schema_name", name="uq_tenants_schema_name"),
        sa.UniqueConstraint("db_role", name="uq_tenants_db_role"),
        schema=SCHEMA,
    )
    # "Nothing to migrate" is one query on this index, whatever the tenant count.
    op.create_index("ix_tenants_revision", "tenants", ["revision"], schema=SCHEMA)
    op.create_table(
        "domains",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.tenants.id", ondelete="CASCADE", name="fk_domains_tenant_id"),
            nullable=False,
        ),
        sa.Column("hostname", sa.String(253), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("hostname", name="uq_domains_hostname"),
        schema=SCHEMA,
    )
    op.create_index("ix_domains_tenant_id", "domains", ["tenant_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("domains", schema=SCHEMA)
    op.drop_table("tenants", schema=SCHEMA)
