"""Tenant tables of the help-request lifecycle (migration t0005)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import TenantBase, TenantRecord

REQUEST_STATUSES = (
    "open",
    "offered",
    "matched",
    "scheduled",
    "done",
    "reported",
    "closed",
    "cancelled",
    "paused",
)
CREATED_AS = ("beneficiary", "relative", "partner", "coordinator")
APPOINTMENT_STATUSES = ("scheduled", "done", "no_show", "cancelled")
MOODS = ("good", "fair", "low", "worrying")
WARNING_SIGNS = ("fall", "not_eating", "low_mood", "unmet_need", "other")
TASK_KINDS = ("call_person", "warning_sign", "vetting_lost", "concern", "unmatched")


class AvailabilityWindow(TenantBase):
    __tablename__ = "availability_windows"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)


class HelpRequest(TenantRecord):
    """A bip: one person's need, in one module, with its typed details in ``details``."""

    __tablename__ = "help_requests"

    module: Mapped[str] = mapped_column(String(40))
    beneficiary_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    created_as: Mapped[str] = mapped_column(String(12))
    mandate_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mandates.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(12), default="open")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_minutes: Mapped[int] = mapped_column(SmallInteger, default=60)
    wanted_from: Mapped[datetime.date | None] = mapped_column(Date, default=None)
    preferred_windows: Mapped[list[dict[str, int]]] = mapped_column(JSONB, default=list)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    volunteer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    cancel_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    closed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class RequestEvent(TenantBase):
    """One transition of a request: its history, shown to coordinators."""

    __tablename__ = "request_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    from_status: Mapped[str | None] = mapped_column(String(12), default=None)
    to_status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(String(300), default=None)


class RequestOffer(TenantBase):
    """A volunteer who was told about a request (in their digest) and may pop."""

    __tablename__ = "request_offers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    volunteer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    offered_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    declined_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    digest_sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AppointmentSeries(TenantRecord):
    """A recurring visit: every ``interval_weeks`` weeks on ``weekday`` at ``start_minute`` (Paris time)."""

    __tablename__ = "appointment_series"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    volunteer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    duration_minutes: Mapped[int] = mapped_column(SmallInteger)
    interval_weeks: Mapped[int] = mapped_column(SmallInteger, default=1)
    starts_on: Mapped[datetime.date] = mapped_column(Date)
    ends_on: Mapped[datetime.date | None] = mapped_column(Date, default=None)
    paused_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Appointment(TenantRecord):
    __tablename__ = "appointments"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    series_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment_series.id", ondelete="SET NULL"), default=None
    )
    volunteer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    cancel_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    reminded_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class VisitReport(TenantRecord):
    __tablename__ = "visit_reports"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    mood: Mapped[str] = mapped_column(String(10))
    observations: Mapped[str] = mapped_column(Text, default="")
    warning_signs: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)


class Feedback(TenantRecord):
    __tablename__ = "feedback"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")


class Concern(TenantRecord):
    """ "Report a concern", from any page, by anyone signed in."""

    __tablename__ = "concerns"

    reporter_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    about_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("help_requests.id", ondelete="SET NULL"), default=None
    )
    page: Mapped[str | None] = mapped_column(String(200), default=None)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    handled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    handled_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class CoordinatorTask(TenantRecord):
    """Something a coordinator must do: phone a person without internet, look at a warning sign, find
    another volunteer for one who lost their vetting, read a concern."""

    __tablename__ = "coordinator_tasks"

    kind: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), default=None
    )
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("help_requests.id", ondelete="CASCADE"), default=None
    )
    note: Mapped[str | None] = mapped_column(String(300), default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), default=None, unique=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    done_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    done_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class RequestMessage(TenantRecord):
    """A message about a request, through the platform (no phone number or address exchanged)."""

    __tablename__ = "request_messages"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("help_requests.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text)
