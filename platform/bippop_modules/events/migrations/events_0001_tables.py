"""Events module, first revision of its branch of the tenant chain: ``events`` and
``event_registrations`` (capacity and waiting list).

Until this branch existed these two tables came with the core's ``t0005``; a schema made then
already has them, so each statement here is ``if not exists`` and the branch only starts counting.

Revision ID: events_0001
Revises: (branch ``events``, after the core's people table)
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "events_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("events",)
depends_on: str | Sequence[str] | None = "t0004"  # people


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("title", sa.String(160), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("organiser_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("capacity > 0", name="ck_events_capacity"),
        sa.CheckConstraint("starts_at < ends_at", name="ck_events_order"),
        if_not_exists=True,
    )
    op.create_index("ix_events_starts", "events", ["starts_at"], if_not_exists=True)
    op.create_table(
        "event_registrations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("event_id", sa.Uuid(), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("person_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "status in ('registered', 'waiting', 'cancelled')", name="ck_event_registrations_status"
        ),
        sa.UniqueConstraint("event_id", "person_id", name="uq_event_registrations"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_event_registrations_event",
        "event_registrations",
        ["event_id", "status", "created_at"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("event_registrations")
    op.drop_table("events")
