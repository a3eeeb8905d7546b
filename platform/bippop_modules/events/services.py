"""Group events on the coordinators' side: created, cancelled (everyone registered or waiting told),
and the list of who comes, whose reading is audited (names and phone numbers of people helped)."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts import services as accounts
from bippop.accounts.models import Person
from bippop.notifications.dispatch import notify_all
from bippop_modules.events import registrations as event_service
from bippop_modules.events.models import Event, EventRegistration


@dataclasses.dataclass(frozen=True)
class NewEvent:
    """An event as the form checked it (times as UTC instants)."""

    title: str
    description: str
    place: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    capacity: int


@dataclasses.dataclass(frozen=True)
class Registrants:
    registered: list[tuple[str, str | None]]
    waiting: list[tuple[str, str | None]]


def create_event(session: AsyncSession, new: NewEvent, *, organiser_id: uuid.UUID) -> Event:
    event = Event(id=uuid.uuid4(), organiser_id=organiser_id, **dataclasses.asdict(new))
    session.add(event)
    audit.record(
        session,
        "event_created",
        actor_id=organiser_id,
        subject_type="event",
        subject_id=event.id,
        details={"capacity": new.capacity},
    )
    return event


async def cancel_event(
    session: AsyncSession, event: Event, *, actor_id: uuid.UUID, tenant_name: str
) -> list[uuid.UUID]:
    """Cancel once (``event`` locked by the caller); returns the outbox messages to announce."""
    if event.cancelled_at is not None:
        return []
    event.cancelled_at = accounts.now_utc()
    told = list(
        await session.scalars(
            select(EventRegistration.person_id).where(
                EventRegistration.event_id == event.id, EventRegistration.status.in_(event_service.LIVE)
            )
        )
    )
    message_ids = await notify_all(session, [("event_cancelled", p) for p in told], tenant_name=tenant_name)
    audit.record(
        session,
        "event_cancelled",
        actor_id=actor_id,
        subject_type="event",
        subject_id=event.id,
        details={"told": len(told)},
    )
    return message_ids


async def registrants(session: AsyncSession, event: Event, *, reader_id: uuid.UUID) -> Registrants:
    """Who is registered and who waits, in order; the reading is recorded."""
    rows = (
        await session.execute(
            select(EventRegistration.status, Person.display_name, Person.phone)
            .join(Person, Person.id == EventRegistration.person_id)
            .where(EventRegistration.event_id == event.id, EventRegistration.status != "cancelled")
            .order_by(EventRegistration.created_at, EventRegistration.id)
        )
    ).all()
    audit.record(
        session, "event_registrants_read", actor_id=reader_id, subject_type="event", subject_id=event.id
    )
    return Registrants(
        registered=[(name, phone) for status, name, phone in rows if status == "registered"],
        waiting=[(name, phone) for status, name, phone in rows if status == "waiting"],
    )


async def leave_event(
    session: AsyncSession, event: Event, person: Person, *, tenant_name: str
) -> list[uuid.UUID]:
    """``person`` leaves ``event``; the first waiting takes the place and is told. Returns the outbox
    messages to announce; raises ``aid.events.EventError``."""
    promoted = await event_service.cancel_registration(session, event, person)
    return await notify_all(
        session, [("event_place_freed", promoted)] if promoted else [], tenant_name=tenant_name
    )
