"""Tenant schema: two-factor sign-in (TOTP) and its recovery codes.

Revision ID: t0003
Revises: t0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0003"
down_revision: str | None = "t0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("totp_secret", sa.Text(), nullable=True))
    op.add_column("people", sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("people", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_recovery_codes_person", "recovery_codes", ["person_id"])


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_column("people", "totp_last_step")
    op.drop_column("people", "totp_confirmed_at")
    op.drop_column("people", "totp_secret")
