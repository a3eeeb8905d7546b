"""``/coordination/evenements``: group events (created, cancelled with everyone told) and, for the
organiser, who is registered and who waits."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import services as accounts
from bippop.accounts.permissions import requires
from bippop.aid.coordination.common import (
    TEXTAREAS,
    coordination_page,
    field_text,
    identity_of,
    paris_moment,
    parse_clock,
    parse_day,
    small_int,
)
from bippop.modules import registry
from bippop.modules.settings import module_settings
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.deps import tenant_of
from bippop.web.forms import FormData, form_problems
from bippop.web.i18n import _
from bippop.web.listing import page_number, paginate
from bippop.web.pages import page_locale
from bippop_modules.events import registrations as event_service
from bippop_modules.events.models import Event
from bippop_modules.events.services import NewEvent, cancel_event, create_event, registrants

EVENT_DEFAULTS = {
    "title": "",
    "description": "",
    "place": "",
    "date": "",
    "start_time": "",
    "end_date": "",
    "end_time": "",
    "capacity": "",
}


async def _events_page(
    request: Request,
    db_session: AsyncSession,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    query = (
        select(Event)
        .where(Event.cancelled_at.is_(None), Event.ends_at >= accounts.now_utc())
        .order_by(Event.starts_at, Event.id)
    )
    rows, pagination = await paginate(db_session, query, page_number(request), {})
    upcoming = [row[0] for row in rows]
    manifest = registry.module("events")
    settings = await module_settings(db_session, manifest) if manifest is not None else {}
    # A new event's form proposes the council's usual number of places (the module's setting).
    defaults = {**EVENT_DEFAULTS, "capacity": str(settings.get("default_capacity") or "")}
    context = {
        "values": {**defaults, **values},
        "errors": errors,
        "notice": notice,
        "upcoming": upcoming,
        "counts": await event_service.counts(db_session, [e.id for e in upcoming]),
        "pagination": pagination,
    }
    return await coordination_page(
        request, db_session, "modules/events/coordination_events.html", context, status=status
    )


def _text_errors(values: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not values["title"]:
        errors["title"] = _("Give the event a title.")
    elif len(values["title"]) > 160:
        errors["title"] = _("At most %(n)d characters, please.") % {"n": 160}
    if len(values["description"]) > 4000:
        errors["description"] = _("At most %(n)d characters, please.") % {"n": 4000}
    if not values["place"]:
        errors["place"] = _("Say where the event takes place.")
    elif len(values["place"]) > 200:
        errors["place"] = _("At most %(n)d characters, please.") % {"n": 200}
    return errors


def _read_event(values: dict[str, str]) -> tuple[NewEvent | None, dict[str, str]]:
    """The event the form describes, or None, and the errors next to each field."""
    errors = _text_errors(values)
    day = parse_day(values["date"])
    if day is None:
        errors["date"] = _("Enter a date like 14/03/2027.")
    start = parse_clock(values["start_time"])
    if start is None:
        errors["start_time"] = _("Enter a time like 14:30.")
    end_day = parse_day(values["end_date"]) if values["end_date"] else day
    if values["end_date"] and end_day is None:
        errors["end_date"] = _("Enter a date like 14/03/2027.")
    end = parse_clock(values["end_time"])
    if end is None:
        errors["end_time"] = _("Enter a time like 14:30.")
    capacity = small_int(values["capacity"])
    if capacity is None or not 1 <= capacity <= 10_000:
        errors["capacity"] = _("Enter a number between %(min)s and %(max)s.") % {"min": 1, "max": 10_000}
    starts_at = ends_at = None
    if day is not None and start is not None:
        starts_at = paris_moment(day, start)
        if starts_at <= accounts.now_utc():
            errors["date"] = _("This date is in the past. Choose a date and time to come.")
        if end_day is not None and end is not None:
            ends_at = paris_moment(end_day, end)
            if ends_at <= starts_at:
                errors["end_time"] = _("The event must end after it starts.")
    if errors or starts_at is None or ends_at is None or capacity is None:
        return None, errors
    return NewEvent(
        values["title"], values["description"], values["place"], starts_at, ends_at, capacity
    ), errors


class EventsController(Controller):
    path = "/coordination/evenements"

    @get("/{event_id:uuid}", guards=[requires("events.manage")], name="coordination-event")
    async def registrants(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        """Who is registered and who waits, in order: what the organiser needs on the day."""
        await page_locale(request, db_session)
        event = await db_session.get(Event, event_id)
        if event is None:
            raise NotFoundException()
        found = await registrants(db_session, event, reader_id=identity_of(request).person_id)
        context = {"event": event, "registered": found.registered, "waiting": found.waiting}
        return await coordination_page(request, db_session, "modules/events/coordination_event.html", context)

    @get("/", guards=[requires("events.manage")], name="coordination-events")
    async def events(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await page_locale(request, db_session)
        done = request.query_params.get("done", "")
        notice = {
            "created": _("The event is created: residents can now register."),
            "cancelled": _("The event is cancelled. Everyone registered or waiting is told."),
        }.get(done)
        return await _events_page(request, db_session, values={}, errors={}, notice=notice)

    @post("/", guards=[requires("events.manage")])
    async def create(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        await page_locale(request, db_session)
        values = {name: field_text(data, name, 4001) for name in EVENT_DEFAULTS}
        new, errors = _read_event(values)
        errors.update(form_problems(data, multiline=TEXTAREAS))
        if new is None or errors:
            return await _events_page(request, db_session, values=values, errors=errors, status=400)
        create_event(db_session, new, organiser_id=identity_of(request).person_id)
        await db_session.commit()
        return Redirect("/coordination/evenements?done=created", status_code=303)

    @post("/{event_id:uuid}/annuler", guards=[requires("events.manage")], name="coordination-event-cancel")
    async def cancel(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        await page_locale(request, db_session)
        event = await event_service.lock_event(db_session, event_id)
        if event is None:
            raise NotFoundException()
        message_ids = await cancel_event(
            db_session, event, actor_id=identity_of(request).person_id, tenant_name=tenant_of(request).name
        )
        await commit_and_announce(request, db_session, message_ids)
        return Redirect("/coordination/evenements?done=cancelled", status_code=303)
