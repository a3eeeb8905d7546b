"""Tenant schema: help requests and what follows them.

- ``people``: contact details (seen by a volunteer only once confirmed on a request), where they
  live (coordinates, from the address or the commune's centroid), languages, skills, vetting,
  notification channels, the volunteer's radius and calendar-feed token;
- ``availability_windows``: when a volunteer is free (weekday, minutes);
- ``help_requests`` (bip) with their ``request_events`` history, ``request_offers`` (who heard of
  it), ``appointment_series`` (recurring) and ``appointments``, ``visit_reports``, ``feedback``;
- ``concerns`` (reported by anyone signed in) and ``coordinator_tasks`` (phone someone, a warning
  sign, a volunteer who lost vetting);
- (``events`` and ``event_registrations`` were created here until the events module got its own
  branch of the chain, ``events_0001``, which creates them now);
- ``outbox_messages.dedupe_key``: a message planned twice (a retried job) is written once.

Revision ID: t0005
Revises: t0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "t0005"
down_revision: str | None = "t0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), primary_key=True)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _person(name: str, *, nullable: bool = False, on_delete: str = "CASCADE") -> sa.Column:
    return sa.Column(name, sa.Uuid(), sa.ForeignKey("people.id", ondelete=on_delete), nullable=nullable)


def _add_column(table: str, column: sa.Column) -> None:
    """``ADD COLUMN`` without its default, then the default, the existing rows, NOT NULL: the same column
    as ``op.add_column``, but PostgreSQL 15 checks the whole catalog (``pg_class``, ``pg_index``) for an
    ``ADD COLUMN … DEFAULT``, which made every new tenant's creation slower as the fleet grew
    (issue 13: ~17 ms each at 2,000 tenants). On a new tenant's empty table the UPDATE touches nothing."""
    default, required = column.server_default, not column.nullable
    if default is None:
        op.add_column(table, column)
        return
    bare = sa.Column(column.name, column.type, nullable=True)
    op.add_column(table, bare)
    op.alter_column(table, column.name, server_default=default.arg)  # type: ignore[attr-defined]
    if required:
        op.execute(f"update {table} set {column.name} = default where {column.name} is null")
        op.alter_column(table, column.name, nullable=False)


def upgrade() -> None:
    for column in (
        sa.Column("phone", sa.String(30), nullable=True),
        sa.Column("address", sa.String(200), nullable=True),
        sa.Column("postcode", sa.String(10), nullable=True),
        sa.Column("commune_code", sa.String(5), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("location_precision", sa.String(10), nullable=True),
        sa.Column("languages", postgresql.ARRAY(sa.String(8)), nullable=False, server_default="{fr}"),
        sa.Column("skills", postgresql.ARRAY(sa.String(40)), nullable=False, server_default="{}"),
        sa.Column("vetting_level", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("vetted_until", sa.Date(), nullable=True),
        sa.Column("channels", postgresql.ARRAY(sa.String(12)), nullable=False, server_default="{email}"),
        sa.Column("max_distance_km", sa.SmallInteger(), nullable=False, server_default="5"),
        sa.Column("calendar_token_hash", sa.String(64), nullable=True),
    ):
        _add_column("people", column)
    op.create_index("ix_people_roles", "people", ["roles"], postgresql_using="gin")
    op.create_index("uq_people_calendar_token", "people", ["calendar_token_hash"], unique=True)

    op.create_table(
        "availability_windows",
        _id(),
        _person("person_id"),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=False),
        sa.Column("end_minute", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("weekday between 0 and 6", name="ck_availability_weekday"),
        sa.CheckConstraint(
            "0 <= start_minute and start_minute < end_minute and end_minute <= 1440",
            name="ck_availability_minutes",
        ),
    )
    op.create_index("ix_availability_person", "availability_windows", ["person_id"])

    op.create_table(
        "help_requests",
        _id(),
        sa.Column("module", sa.String(40), nullable=False),
        _person("beneficiary_id"),
        _person("created_by", nullable=True, on_delete="SET NULL"),
        sa.Column("created_as", sa.String(12), nullable=False),
        sa.Column("mandate_id", sa.Uuid(), sa.ForeignKey("mandates.id", ondelete="SET NULL"), nullable=True),
        sa.Column("status", sa.String(12), nullable=False, server_default="open"),
        sa.Column("details", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("recurring", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("duration_minutes", sa.SmallInteger(), nullable=False, server_default="60"),
        sa.Column("wanted_from", sa.Date(), nullable=True),
        sa.Column(
            "preferred_windows", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        _person("volunteer_id", nullable=True, on_delete="SET NULL"),
        sa.Column("cancel_reason", sa.String(300), nullable=True),
        _person("cancelled_by", nullable=True, on_delete="SET NULL"),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status in ('open', 'offered', 'matched', 'scheduled', 'done', 'reported', 'closed', 'cancelled', 'paused')",
            name="ck_help_requests_status",
        ),
        sa.CheckConstraint(
            "created_as in ('beneficiary', 'relative', 'partner', 'coordinator')",
            name="ck_help_requests_created_as",
        ),
    )
    op.create_index("ix_help_requests_status", "help_requests", ["status", "created_at"])
    op.create_index("ix_help_requests_beneficiary", "help_requests", ["beneficiary_id", "created_at"])
    op.create_index("ix_help_requests_volunteer", "help_requests", ["volunteer_id", "status"])

    op.create_table(
        "request_events",
        _id(),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _person("actor_id", nullable=True, on_delete="SET NULL"),
        sa.Column("from_status", sa.String(12), nullable=True),
        sa.Column("to_status", sa.String(12), nullable=False),
        sa.Column("note", sa.String(300), nullable=True),
    )
    op.create_index("ix_request_events_request", "request_events", ["request_id", "occurred_at"])

    op.create_table(
        "request_offers",
        _id(),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="CASCADE"), nullable=False
        ),
        _person("volunteer_id"),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digest_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("request_id", "volunteer_id", name="uq_request_offers"),
    )
    op.create_index("ix_request_offers_volunteer", "request_offers", ["volunteer_id", "offered_at"])

    op.create_table(
        "appointment_series",
        _id(),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="CASCADE"), nullable=False
        ),
        _person("volunteer_id"),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=False),
        sa.Column("duration_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("interval_weeks", sa.SmallInteger(), nullable=False, server_default="1"),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
    )
    op.create_table(
        "appointments",
        _id(),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "series_id", sa.Uuid(), sa.ForeignKey("appointment_series.id", ondelete="SET NULL"), nullable=True
        ),
        _person("volunteer_id"),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="scheduled"),
        sa.Column("cancel_reason", sa.String(300), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status in ('scheduled', 'done', 'no_show', 'cancelled')", name="ck_appointments_status"
        ),
        sa.CheckConstraint("starts_at < ends_at", name="ck_appointments_order"),
    )
    op.create_index("ix_appointments_request", "appointments", ["request_id", "starts_at"])
    op.create_index("ix_appointments_volunteer", "appointments", ["volunteer_id", "starts_at"])
    op.create_index(
        "ix_appointments_to_remind",
        "appointments",
        ["starts_at"],
        postgresql_where=sa.text("status = 'scheduled' and reminded_at is null"),
    )
    op.create_index(
        "uq_appointments_series_start",
        "appointments",
        ["series_id", "starts_at"],
        unique=True,
        postgresql_where=sa.text("series_id is not null"),
    )

    op.create_table(
        "visit_reports",
        _id(),
        sa.Column(
            "appointment_id",
            sa.Uuid(),
            sa.ForeignKey("appointments.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        _person("author_id", nullable=True, on_delete="SET NULL"),
        sa.Column("mood", sa.String(10), nullable=False),
        sa.Column("observations", sa.Text(), nullable=False, server_default=""),
        sa.Column("warning_signs", postgresql.ARRAY(sa.String(20)), nullable=False, server_default="{}"),
        *_timestamps(),
        sa.CheckConstraint("mood in ('good', 'fair', 'low', 'worrying')", name="ck_visit_reports_mood"),
    )
    op.create_table(
        "feedback",
        _id(),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="CASCADE"), nullable=False
        ),
        _person("author_id", nullable=True, on_delete="SET NULL"),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        *_timestamps(),
        sa.CheckConstraint("rating between 1 and 5", name="ck_feedback_rating"),
        sa.UniqueConstraint("request_id", "author_id", name="uq_feedback_author"),
    )
    op.create_table(
        "concerns",
        _id(),
        _person("reporter_id", nullable=True, on_delete="SET NULL"),
        _person("about_person_id", nullable=True, on_delete="SET NULL"),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("page", sa.String(200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),
        _person("handled_by", nullable=True, on_delete="SET NULL"),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status in ('open', 'handled')", name="ck_concerns_status"),
    )
    op.create_index(
        "ix_concerns_open", "concerns", ["created_at"], postgresql_where=sa.text("status = 'open'")
    )
    op.create_table(
        "coordinator_tasks",
        _id(),
        sa.Column("kind", sa.String(20), nullable=False),
        _person("person_id", nullable=True),
        sa.Column(
            "request_id", sa.Uuid(), sa.ForeignKey("help_requests.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("note", sa.String(300), nullable=True),
        sa.Column("dedupe_key", sa.String(120), nullable=True, unique=True),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),
        _person("done_by", nullable=True, on_delete="SET NULL"),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status in ('open', 'done')", name="ck_coordinator_tasks_status"),
    )
    op.create_index(
        "ix_coordinator_tasks_open",
        "coordinator_tasks",
        ["created_at"],
        postgresql_where=sa.text("status = 'open'"),
    )

    op.add_column("outbox_messages", sa.Column("dedupe_key", sa.String(120), nullable=True))
    op.create_index("uq_outbox_dedupe", "outbox_messages", ["dedupe_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_outbox_dedupe", "outbox_messages")
    op.drop_column("outbox_messages", "dedupe_key")
    for table in (
        "coordinator_tasks",
        "concerns",
        "feedback",
        "visit_reports",
        "appointments",
        "appointment_series",
        "request_offers",
        "request_events",
        "help_requests",
        "availability_windows",
    ):
        op.drop_table(table)
    op.drop_index("uq_people_calendar_token", "people")
    op.drop_index("ix_people_roles", "people")
    for column in (
        "calendar_token_hash",
        "max_distance_km",
        "channels",
        "vetted_until",
        "vetting_level",
        "skills",
        "languages",
        "location_precision",
        "longitude",
        "latitude",
        "commune_code",
        "postcode",
        "address",
        "phone",
    ):
        op.drop_column("people", column)
