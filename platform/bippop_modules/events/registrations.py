"""Registering for a group event, race-free: capacity is respected exactly, the rest wait in line.

Every change to an event's registrations first locks the event's row (``SELECT … FOR UPDATE``), so two
people taking the last place at the same second are served one after the other: the first is
registered, the second finds the event full and joins the waiting list. A cancelled registration
frees its place for the first person waiting, whose id is returned for the caller to notify after
commit. The waiting line is ordered by ``created_at``: someone who cancels and comes back joins the
end of it.

Interface used by the residents' pages (kept stable): ``register(session, event, person)`` →
``"registered"`` or ``"waiting"``; ``cancel_registration(session, event, person)`` → the id of the
person promoted from the waiting list, or ``None``. Both raise ``EventError`` (with a message for
people) when the event is cancelled or has started; the caller commits.
"""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import audit
from bippop.accounts.models import Person
from bippop.web.i18n import _
from bippop_modules.events.models import Event, EventRegistration

LIVE = ("registered", "waiting")


class EventError(ValueError):
    """Registration refused; ``message`` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def now_utc() -> datetime.datetime:
    return clock.now()


async def lock_event(session: AsyncSession, event_id: uuid.UUID) -> Event | None:
    """The event's row, locked until the end of the transaction, with its latest values."""
    found: Event | None = await session.scalar(
        select(Event).where(Event.id == event_id).with_for_update().execution_options(populate_existing=True)
    )
    return found


async def registered_count(session: AsyncSession, event_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(EventRegistration)
            .where(EventRegistration.event_id == event_id, EventRegistration.status == "registered")
        )
        or 0
    )


async def counts(session: AsyncSession, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """{event id: {"registered": n, "waiting": m}} for these events (one query)."""
    result: dict[uuid.UUID, dict[str, int]] = {i: {"registered": 0, "waiting": 0} for i in event_ids}
    if not event_ids:
        return result
    rows = await session.execute(
        select(EventRegistration.event_id, EventRegistration.status, func.count())
        .where(EventRegistration.event_id.in_(event_ids), EventRegistration.status.in_(LIVE))
        .group_by(EventRegistration.event_id, EventRegistration.status)
    )
    for event_id, status, number in rows:
        result[event_id][status] = int(number)
    return result


def _open_problem(event: Event, now: datetime.datetime) -> str | None:
    if event.cancelled_at is not None:
        return _("This event has been cancelled.")
    if event.starts_at <= now:
        return _("This event has already started: registrations are closed.")
    return None


async def register(
    session: AsyncSession, event: Event, person: Person, *, now: datetime.datetime | None = None
) -> str:
    """Register ``person`` (or put them on the waiting list when the event is full); registering again
    changes nothing and returns where they stand."""
    now = now or now_utc()
    locked = await lock_event(session, event.id)
    if locked is None:
        raise EventError(_("This event no longer exists."))
    problem = _open_problem(locked, now)
    if problem:
        raise EventError(problem)
    existing = await session.scalar(
        select(EventRegistration).where(
            EventRegistration.event_id == locked.id, EventRegistration.person_id == person.id
        )
    )
    if existing is not None and existing.status in LIVE:
        return existing.status
    status = "registered" if await registered_count(session, locked.id) < locked.capacity else "waiting"
    if existing is not None:
        existing.status = status
        existing.created_at = now  # back at the end of the line
    else:
        session.add(
            EventRegistration(id=uuid.uuid4(), event_id=locked.id, person_id=person.id, status=status)
        )
    await session.flush()
    audit.record(
        session,
        "event_registration",
        actor_id=person.id,
        subject_type="event",
        subject_id=locked.id,
        details={"status": status},
    )
    return status


async def cancel_registration(
    session: AsyncSession, event: Event, person: Person, *, now: datetime.datetime | None = None
) -> uuid.UUID | None:
    """Cancel ``person``'s registration (or their place in line). A freed place goes to the first person
    waiting: their id is returned, to notify once committed."""
    now = now or now_utc()
    locked = await lock_event(session, event.id)
    if locked is None:
        return None
    registration = await session.scalar(
        select(EventRegistration).where(
            EventRegistration.event_id == locked.id, EventRegistration.person_id == person.id
        )
    )
    if registration is None or registration.status not in LIVE:
        return None
    was = registration.status
    registration.status = "cancelled"
    await session.flush()
    audit.record(
        session,
        "event_registration_cancelled",
        actor_id=person.id,
        subject_type="event",
        subject_id=locked.id,
        details={"was": was},
    )
    if was != "registered" or _open_problem(locked, now) is not None:
        return None
    if await registered_count(session, locked.id) >= locked.capacity:
        return None
    first = await session.scalar(
        select(EventRegistration)
        .where(EventRegistration.event_id == locked.id, EventRegistration.status == "waiting")
        .order_by(EventRegistration.created_at, EventRegistration.id)
        .limit(1)
    )
    if first is None:
        return None
    first.status = "registered"
    await session.flush()
    audit.record(
        session,
        "event_registration_promoted",
        actor_id=None,
        subject_type="event",
        subject_id=locked.id,
        details={"person": str(first.person_id)},
    )
    return first.person_id
