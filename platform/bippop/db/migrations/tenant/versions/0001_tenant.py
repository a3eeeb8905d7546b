"""Tenant schema: settings and people.

Tenant migrations are rendered to SQL once and applied to every schema (see
``bippop.tenants.migrator``): write them with ``op`` calls and ``op.execute``
only, never with Python code that reads rows. Never name a schema here.

Revision ID: t0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "t0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("value", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("roles", postgresql.ARRAY(sa.String(30)), nullable=False, server_default="{}"),
        sa.Column("locale", sa.String(5), nullable=False, server_default="fr"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("uq_people_email", "people", [sa.text("lower(email)")], unique=True)


def downgrade() -> None:
    op.drop_table("people")
    op.drop_table("settings")
