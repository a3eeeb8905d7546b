"""Spare schemas: tenant schemas provisioned and migrated ahead of sign-ups.

Revision ID: p0002
Revises: p0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p0002"
down_revision: str | None = "p0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def upgrade() -> None:
    op.create_table(
        "spare_schemas",
        sa.Column("schema_name", sa.String(63), primary_key=True),
        sa.Column("db_role", sa.String(63), nullable=False),
        sa.Column("revision", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("db_role", name="uq_spare_schemas_db_role"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("spare_schemas", schema=SCHEMA)
