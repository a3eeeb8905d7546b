"""Tenant deletion with a grace period: state ``deleting`` and its due date.

Revision ID: p0003
Revises: p0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p0003"
down_revision: str | None = "p0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def upgrade() -> None:
    op.add_column(
        "tenants", sa.Column("delete_after", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA
    )
    op.add_column("tenants", sa.Column("last_export_key", sa.String(300), nullable=True), schema=SCHEMA)
    op.drop_constraint("ck_tenants_status", "tenants", schema=SCHEMA, type_="check")
    op.create_check_constraint(
        "ck_tenants_status",
        "tenants",
        "status in ('pending', 'provisioning', 'active', 'failed', 'suspended', 'deleting')",
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_constraint("ck_tenants_status", "tenants", schema=SCHEMA, type_="check")
    op.create_check_constraint(
        "ck_tenants_status",
        "tenants",
        "status in ('pending', 'provisioning', 'active', 'failed', 'suspended')",
        schema=SCHEMA,
    )
    op.drop_column("tenants", "last_export_key", schema=SCHEMA)
    op.drop_column("tenants", "delete_after", schema=SCHEMA)
