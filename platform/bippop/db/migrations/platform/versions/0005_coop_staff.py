"""Co-op staff: the operators and administrators of the co-operative, who sign in on the co-op console.

They are not people of any tenant, so they live in ``platform``, with their own second factor
(required) and recovery codes. The application role may read and update them.

Revision ID: p0005
Revises: p0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "p0005"
down_revision: str | None = "p0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("roles", postgresql.ARRAY(sa.String(30)), nullable=False, server_default="{}"),
        sa.Column("locale", sa.String(5), nullable=False, server_default="fr"),
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("uq_staff_email", "staff", [sa.text("lower(email)")], unique=True, schema=SCHEMA)
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "person_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.staff.id", ondelete="CASCADE", name="fk_staff_recovery_codes_staff"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_staff_recovery_codes_staff", "staff_recovery_codes", ["person_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("staff_recovery_codes", schema=SCHEMA)
    op.drop_table("staff", schema=SCHEMA)
