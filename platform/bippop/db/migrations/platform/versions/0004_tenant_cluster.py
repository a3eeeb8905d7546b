"""Which PostgreSQL cluster holds each tenant's schema, and the short ``moving`` state.

Revision ID: p0004
Revises: p0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p0004"
down_revision: str | None = "p0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


STATUSES_BEFORE = "('pending', 'provisioning', 'active', 'failed', 'suspended', 'deleting')"
STATUSES_AFTER = "('pending', 'provisioning', 'active', 'failed', 'suspended', 'deleting', 'moving')"


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("cluster", sa.String(30), nullable=False, server_default="main"),
        schema="platform",
    )
    op.drop_constraint("ck_tenants_status", "tenants", schema="platform", type_="check")
    op.create_check_constraint(
        "ck_tenants_status", "tenants", f"status in {STATUSES_AFTER}", schema="platform"
    )


def downgrade() -> None:
    op.drop_constraint("ck_tenants_status", "tenants", schema="platform", type_="check")
    op.create_check_constraint(
        "ck_tenants_status", "tenants", f"status in {STATUSES_BEFORE}", schema="platform"
    )
    op.drop_column("tenants", "cluster", schema="platform")
