"""The tables of the events module, in each tenant's schema (its own branch of the tenant chain:
``migrations/events_0001``): an event with a capacity, and who registered or waits."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import TenantRecord

# Registrations are deleted this long after their event ends (``jobs.py``; the privacy notice says so).
REGISTRATIONS_KEPT_DAYS = 400  # a year of figures, and the weeks a council takes to write them up


class Event(TenantRecord):
    """A group event of the ``events`` module: a place, a time, a capacity."""

    __tablename__ = "events"

    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer)
    organiser_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    cancelled_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class EventRegistration(TenantRecord):
    __tablename__ = "event_registrations"

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))  # registered, waiting, cancelled
