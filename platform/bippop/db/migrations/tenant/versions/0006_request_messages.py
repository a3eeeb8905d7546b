"""Tenant schema: messages about a request, written on the site rather than by phone.

Before a volunteer is vetted and confirmed on a request, they never see the person's phone number
or exact address: they write here, and the coordinator (or the person, once signed in) answers.

Revision ID: t0006
Revises: t0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0006"
down_revision: str | None = "t0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_request_messages_request", "request_messages", ["request_id", "created_at"])


def downgrade() -> None:
    op.drop_table("request_messages")
