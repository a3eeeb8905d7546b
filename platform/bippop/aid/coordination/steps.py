"""The actions on one request's page, each a small step that reads its form and calls ``aid.lifecycle``
(or the message service); ``STEPS`` maps each action's path segment to it."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.aid import lifecycle, matching
from bippop.aid.coordination.common import field_text, paris_moment, parse_clock, parse_day, small_int
from bippop.aid.lifecycle import LifecycleError, Outcome
from bippop.aid.models import HelpRequest
from bippop.aid.services.messages import MessageRefused, write_message
from bippop.web.forms import parse_uuid
from bippop.web.i18n import _

MAX_OFFER = 20


class FormProblem(Exception):
    """Errors found in a form before any change (field name → message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


Step = Callable[[AsyncSession, HelpRequest, dict[str, Any], uuid.UUID], Awaitable[Outcome]]


async def _assign(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    volunteer_id = parse_uuid(field_text(form, "volunteer_id", 40))
    volunteer = await db.get(Person, volunteer_id) if volunteer_id else None
    if volunteer is None:
        raise LifecycleError(_("Choose a volunteer in the list."), field="volunteer")
    return await lifecycle.assign(db, req, volunteer, coordinator_id=actor_id)


async def _offer(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    count = small_int(field_text(form, "offer_count", 6))
    if count is None or not 1 <= count <= MAX_OFFER:
        raise FormProblem(
            {"offer_count": _("Enter a number between %(min)s and %(max)s.") % {"min": 1, "max": MAX_OFFER}}
        )
    ranked = await matching.rank(db, req, limit=count)
    if not ranked:
        raise LifecycleError(_("No volunteer can be offered this request yet."), field="offer_count")
    return await lifecycle.offer(db, req, [r.volunteer_id for r in ranked], actor_id=actor_id)


def _when(form: dict[str, Any], day_field: str, time_field: str) -> tuple[datetime.date, datetime.time]:
    errors: dict[str, str] = {}
    day = parse_day(field_text(form, day_field, 20))
    clock = parse_clock(field_text(form, time_field, 10))
    if day is None:
        errors[day_field] = _("Enter a date like 14/03/2027.")
    if clock is None:
        errors[time_field] = _("Enter a time like 14:30.")
    if errors:
        raise FormProblem(errors)
    assert day is not None and clock is not None
    return day, clock


async def _schedule(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    day, clock = _when(form, "date", "time")
    return await lifecycle.schedule(db, req, paris_moment(day, clock), actor_id=actor_id)


async def _series(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    errors: dict[str, str] = {}
    weekday = small_int(field_text(form, "series_weekday", 2))
    if weekday is None or weekday > 6:
        errors["series_weekday"] = _("Choose a day of the week.")
    interval = small_int(field_text(form, "series_interval", 2))
    if interval is None or not 1 <= interval <= 8:
        errors["series_interval"] = _("Enter a number between %(min)s and %(max)s.") % {"min": 1, "max": 8}
    try:
        day, clock = _when(form, "series_from", "series_time")
    except FormProblem as exc:
        errors.update(exc.errors)
    if errors:
        raise FormProblem(errors)
    assert weekday is not None and interval is not None
    # The first visit may be later today: the series starts on that day, at that time.
    return await lifecycle.schedule_series(
        db,
        req,
        weekday=weekday,
        start_minute=clock.hour * 60 + clock.minute,
        starts_on=day,
        interval_weeks=interval,
        actor_id=actor_id,
    )


def _reason(form: dict[str, Any], name: str) -> str:
    reason = field_text(form, name, 300)
    if not reason:
        raise FormProblem({name: _("Please say in a few words why, so that everyone understands.")})
    return reason


async def _reassign(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    reason = _reason(form, "reassign_reason")
    return await lifecycle.release(db, req, action="reassign", actor_id=actor_id, reason=reason)


async def _cancel(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.cancel(db, req, actor_id=actor_id, reason=field_text(form, "cancel_reason", 300))


async def _close(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.close(db, req, coordinator_id=actor_id)


async def _pause(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.pause(db, req, actor_id=actor_id)


async def _resume(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.resume(db, req, actor_id=actor_id)


async def _message(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    try:
        return write_message(
            db, req, author_id=actor_id, body=field_text(form, "body", 4001), side="coordinator"
        )
    except MessageRefused as exc:
        raise FormProblem(exc.errors) from exc


# path segment → (confirmation key, the step, where each lifecycle field's error is shown)
STEPS: dict[str, tuple[str, Step, dict[str, str]]] = {
    "assigner": ("assign", _assign, {"volunteer": "volunteer"}),
    "proposer": ("offer", _offer, {"offer_count": "offer_count"}),
    "planifier": ("schedule", _schedule, {"starts_at": "date"}),
    "planifier-serie": (
        "series",
        _series,
        {"starts_on": "series_from", "weekday": "series_weekday"},
    ),
    "reattribuer": ("reassign", _reassign, {}),
    "annuler": ("cancel", _cancel, {"reason": "cancel_reason"}),
    "clore": ("close", _close, {}),
    "suspendre": ("pause", _pause, {}),
    "reprendre": ("resume", _resume, {}),
    "messages": ("message", _message, {}),
}
