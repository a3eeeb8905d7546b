"""The help-request lifecycle: one state machine for every module.

    open ──offer──▶ offered ──pop / assign──▶ matched ──schedule──▶ scheduled ──done──▶ done
      ▲                │                         │                    │   ▲              │
      └──withdraw / reassign / vetting lost ─────┴────────────────────┘   │           report
                                                                pause ──▶ paused          ▼
    any of open…paused ──cancel (with a reason)──▶ cancelled      resume ─┘           reported
                                                                              feedback / close ▼
                                                                                          closed

Every change goes through ``transition()``, which refuses a move the table does not allow,
records a ``RequestEvent`` and an audit event, and returns what must be announced after commit; a move
to the same state that changes nothing (the same appointment set twice) records nothing.
Popping is race-free: one conditional UPDATE decides, so of two volunteers popping in the same
second exactly one wins and the other is told kindly. A request that closes or is cancelled takes its
future appointments with it. "Now" and "today" come from ``bippop.clock`` (or the ``now`` given).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import audit
from bippop.accounts.models import Mandate, Person
from bippop.aid.models import (
    Appointment,
    AppointmentSeries,
    CoordinatorTask,
    Feedback,
    HelpRequest,
    RequestEvent,
    RequestOffer,
    VisitReport,
)
from bippop.modules.contract import ModuleManifest
from bippop.modules.registry import module as find_module
from bippop.web.i18n import _

ACTIVE = ("open", "offered", "matched", "scheduled", "paused")
WITH_VOLUNTEER = ("matched", "scheduled", "paused")  # active, and a volunteer is on it
# (from, to) → the actions that may make that move.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("open", "offered"): frozenset({"offer"}),
    ("offered", "offered"): frozenset({"offer"}),
    ("open", "matched"): frozenset({"pop", "assign"}),
    ("offered", "matched"): frozenset({"pop", "assign"}),
    ("matched", "scheduled"): frozenset({"schedule"}),
    ("scheduled", "scheduled"): frozenset({"schedule"}),
    ("scheduled", "done"): frozenset({"complete"}),
    ("done", "reported"): frozenset({"report"}),
    ("reported", "closed"): frozenset({"feedback", "close"}),
    ("done", "closed"): frozenset({"feedback", "close"}),
    ("scheduled", "paused"): frozenset({"pause"}),
    ("paused", "scheduled"): frozenset({"resume"}),
    **{
        (state, "open"): frozenset({"withdraw", "reassign", "vetting_lost"})
        for state in ("matched", "scheduled", "paused")
    },
    **{(state, "cancelled"): frozenset({"cancel"}) for state in ACTIVE},
}
NO_SHOW_LIMIT = 2
SERIES_HORIZON_DAYS = 28  # how far ahead a series' appointments exist; the daily job keeps it so
PAUSED = "paused"  # cancel reason of the appointments a pause took away (a resume brings them back)


class LifecycleError(ValueError):
    """A move that cannot be made; ``message`` is for people, ``field`` says where to show it."""

    def __init__(self, message: str, field: str = "form") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AlreadyTaken(LifecycleError):
    pass


@dataclasses.dataclass
class Outcome:
    """What happened, for the caller to announce after commit (ids only)."""

    request: HelpRequest
    notify: list[tuple[str, uuid.UUID]] = dataclasses.field(default_factory=list)  # (purpose, person id)
    appointments: list[Appointment] = dataclasses.field(default_factory=list)
    tasks: list[CoordinatorTask] = dataclasses.field(default_factory=list)


def now_utc() -> datetime.datetime:
    return clock.now()


def allowed(from_status: str, to_status: str, action: str) -> bool:
    return action in TRANSITIONS.get((from_status, to_status), frozenset())


async def transition(
    session: AsyncSession,
    request: HelpRequest,
    to_status: str,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    note: str | None = None,
    changed: bool = True,
) -> None:
    """Move ``request`` to ``to_status`` and record it; ``changed=False`` says the action changed nothing,
    and a stay in the same state that changed nothing leaves no trace in the history."""
    if not allowed(request.status, to_status, action):
        raise LifecycleError(
            _("This request can no longer be changed this way: reload the page to see where it stands.")
        )
    if request.status == to_status and not changed:
        return
    session.add(
        RequestEvent(
            id=uuid.uuid4(),
            request_id=request.id,
            actor_id=actor_id,
            from_status=request.status,
            to_status=to_status,
            note=note[:300] if note else None,
        )
    )
    audit.record(
        session,
        f"request_{action}",
        actor_id=actor_id,
        subject_type="help_request",
        subject_id=request.id,
        details={"from": request.status, "to": to_status, "module": request.module},
    )
    request.status = to_status


def manifest_of(request: HelpRequest) -> ModuleManifest:
    manifest = find_module(request.module)
    if manifest is None:
        raise LifecycleError(_("This service is no longer offered by your commune."))
    return manifest


async def live_mandate(
    session: AsyncSession, relative_id: uuid.UUID, beneficiary_id: uuid.UUID
) -> Mandate | None:
    found: Mandate | None = await session.scalar(
        select(Mandate).where(
            Mandate.relative_id == relative_id,
            Mandate.beneficiary_id == beneficiary_id,
            Mandate.revoked_at.is_(None),
        )
    )
    return found


async def create_request(
    session: AsyncSession,
    *,
    manifest: ModuleManifest,
    beneficiary: Person,
    actor: Person,
    created_as: str,
    details: dict[str, Any],
    recurring: bool = False,
    duration_minutes: int | None = None,
    wanted_from: datetime.date | None = None,
    preferred_windows: Sequence[dict[str, int]] = (),
) -> Outcome:
    """Record a bip. ``details`` must already be the module's cleaned values."""
    mandate_id = None
    if created_as == "beneficiary" and actor.id != beneficiary.id:
        raise LifecycleError(_("You can only ask for yourself here."))
    if created_as == "relative":
        mandate = await live_mandate(session, actor.id, beneficiary.id)
        if mandate is None:
            raise LifecycleError(
                _(
                    "You are not recorded as acting for this person. Ask your commune's coordinator to record it, with their agreement."
                ),
                field="beneficiary",
            )
        mandate_id = mandate.id
    if recurring and not manifest.matching.recurring_allowed:
        recurring = False
    request = HelpRequest(
        id=uuid.uuid4(),
        module=manifest.slug,
        beneficiary_id=beneficiary.id,
        created_by=actor.id,
        created_as=created_as,
        mandate_id=mandate_id,
        status="open",
        details=details,
        recurring=recurring,
        duration_minutes=duration_minutes or manifest.matching.default_duration_minutes,
        wanted_from=wanted_from,
        preferred_windows=list(preferred_windows),
        latitude=beneficiary.latitude,
        longitude=beneficiary.longitude,
    )
    session.add(request)
    await session.flush()
    session.add(
        RequestEvent(
            id=uuid.uuid4(), request_id=request.id, actor_id=actor.id, from_status=None, to_status="open"
        )
    )
    audit.record(
        session,
        "request_created",
        actor_id=actor.id,
        subject_type="help_request",
        subject_id=request.id,
        details={"module": manifest.slug, "created_as": created_as, "beneficiary": str(beneficiary.id)},
    )
    outcome = Outcome(request)
    if actor.id != beneficiary.id:
        outcome.notify.append(("request_created_for_you", beneficiary.id))
    hook = manifest.hooks.get("on_request_created")
    if hook is not None:
        await hook(session, request)
    return outcome


async def offer(
    session: AsyncSession,
    request: HelpRequest,
    volunteer_ids: Sequence[uuid.UUID],
    *,
    actor_id: uuid.UUID | None,
    now: datetime.datetime | None = None,
) -> Outcome:
    """Tell these volunteers about the request (their next digest carries it)."""
    now = now or now_utc()
    known = set(
        await session.scalars(select(RequestOffer.volunteer_id).where(RequestOffer.request_id == request.id))
    )
    fresh = [v for v in dict.fromkeys(volunteer_ids) if v not in known]
    for volunteer_id in fresh:
        session.add(
            RequestOffer(id=uuid.uuid4(), request_id=request.id, volunteer_id=volunteer_id, offered_at=now)
        )
    await transition(session, request, "offered", "offer", actor_id=actor_id, note=f"{len(fresh)} volunteers")
    return Outcome(request)


def eligibility_problem(manifest: ModuleManifest, volunteer: Person, today: datetime.date) -> str | None:
    if "volunteer" not in volunteer.roles or not volunteer.can_sign_in:
        return _("Only volunteers can answer requests.")
    if volunteer.vetting_on(today) < manifest.matching.vetting_level:
        return _("This kind of help needs a volunteer checked by the commune. Ask the coordinator about it.")
    missing = set(manifest.matching.skills) - set(volunteer.skills)
    if missing:
        return _("This request needs skills you have not listed yet. You can add them on your profile.")
    return None


async def _claim(session: AsyncSession, request: HelpRequest, volunteer_id: uuid.UUID) -> bool:
    """The one conditional update that makes popping race-free."""
    result = await session.execute(
        update(HelpRequest)
        .where(
            HelpRequest.id == request.id,
            HelpRequest.status.in_(("open", "offered")),
            HelpRequest.volunteer_id.is_(None),
        )
        .values(volunteer_id=volunteer_id, updated_at=now_utc())
        .returning(HelpRequest.id)
    )
    return result.scalar_one_or_none() is not None


async def pop(
    session: AsyncSession, request: HelpRequest, volunteer: Person, *, today: datetime.date | None = None
) -> Outcome:
    """A volunteer answers: first come, first served."""
    manifest = manifest_of(request)
    problem = eligibility_problem(manifest, volunteer, today or clock.today())
    if problem:
        raise LifecycleError(problem)
    if not await _claim(session, request, volunteer.id):
        raise AlreadyTaken(
            _(
                "Another volunteer has just answered this request. Thank you all the same: other requests are waiting for you."
            )
        )
    await session.refresh(request)
    await transition(session, request, "matched", "pop", actor_id=volunteer.id)
    return Outcome(request, notify=[("request_matched", request.beneficiary_id)])


async def assign(
    session: AsyncSession,
    request: HelpRequest,
    volunteer: Person,
    *,
    coordinator_id: uuid.UUID,
    today: datetime.date | None = None,
) -> Outcome:
    manifest = manifest_of(request)
    problem = eligibility_problem(manifest, volunteer, today or clock.today())
    if problem:
        raise LifecycleError(problem, field="volunteer")
    if not await _claim(session, request, volunteer.id):
        raise AlreadyTaken(_("A volunteer has just been matched with this request. Reload the page."))
    await session.refresh(request)
    await transition(session, request, "matched", "assign", actor_id=coordinator_id)
    return Outcome(
        request, notify=[("request_assigned", volunteer.id), ("request_matched", request.beneficiary_id)]
    )


async def schedule(
    session: AsyncSession,
    request: HelpRequest,
    starts_at: datetime.datetime,
    *,
    actor_id: uuid.UUID,
    now: datetime.datetime | None = None,
) -> Outcome:
    """One appointment (a one-off visit, or an extra one)."""
    now = now or now_utc()
    if request.volunteer_id is None:
        raise LifecycleError(_("Choose a volunteer before setting a date."))
    if starts_at <= now:
        raise LifecycleError(
            _("This date is in the past. Choose a date and time to come."), field="starts_at"
        )
    same = await session.scalar(
        select(Appointment).where(
            Appointment.request_id == request.id,
            Appointment.volunteer_id == request.volunteer_id,
            Appointment.starts_at == starts_at,
            Appointment.status == "scheduled",
        )
    )
    if same is not None:
        # Sent twice (a double click, a reload): already set, so nothing to record nor to tell again.
        await transition(session, request, "scheduled", "schedule", actor_id=actor_id, changed=False)
        return Outcome(request, appointments=[same])
    appointment = Appointment(
        id=uuid.uuid4(),
        request_id=request.id,
        volunteer_id=request.volunteer_id,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=request.duration_minutes),
        status="scheduled",
    )
    session.add(appointment)
    await transition(session, request, "scheduled", "schedule", actor_id=actor_id)
    return Outcome(
        request,
        appointments=[appointment],
        notify=[
            ("appointment_scheduled", request.beneficiary_id),
            ("appointment_scheduled", request.volunteer_id),
        ],
    )


async def schedule_series(
    session: AsyncSession,
    request: HelpRequest,
    *,
    weekday: int,
    start_minute: int,
    starts_on: datetime.date,
    interval_weeks: int = 1,
    ends_on: datetime.date | None = None,
    actor_id: uuid.UUID,
    now: datetime.datetime | None = None,
    horizon_days: int = SERIES_HORIZON_DAYS,
) -> Outcome:
    """A recurring visit: the series, and its appointments over the next ``horizon_days`` (a daily job,
    ``aid.jobs.extend_tenant_series``, extends every live series)."""
    now = now or now_utc()
    if request.volunteer_id is None:
        raise LifecycleError(_("Choose a volunteer before setting a date."))
    if not request.recurring:
        raise LifecycleError(_("This request is for a single visit."))
    if not (0 <= weekday <= 6 and 0 <= start_minute < 24 * 60 and 1 <= interval_weeks <= 8):
        raise LifecycleError(_("Choose a day of the week and a time."), field="weekday")
    if starts_on < now.date():
        raise LifecycleError(
            _("This date is in the past. Choose a date and time to come."), field="starts_on"
        )
    same = await session.scalar(
        select(AppointmentSeries).where(
            AppointmentSeries.request_id == request.id,
            AppointmentSeries.volunteer_id == request.volunteer_id,
            AppointmentSeries.weekday == weekday,
            AppointmentSeries.start_minute == start_minute,
            AppointmentSeries.interval_weeks == interval_weeks,
            AppointmentSeries.starts_on == starts_on,
            AppointmentSeries.ends_on.is_(None) if ends_on is None else AppointmentSeries.ends_on == ends_on,
            AppointmentSeries.paused_at.is_(None),
        )
    )
    if same is not None:
        # Sent twice: the series is already set; only what the horizon now reaches is added.
        await transition(session, request, "scheduled", "schedule", actor_id=actor_id, changed=False)
        until = now.date() + datetime.timedelta(days=horizon_days)
        return Outcome(request, appointments=await extend_series(session, same, until=until, now=now))
    series = AppointmentSeries(
        id=uuid.uuid4(),
        request_id=request.id,
        volunteer_id=request.volunteer_id,
        weekday=weekday,
        start_minute=start_minute,
        duration_minutes=request.duration_minutes,
        interval_weeks=interval_weeks,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    session.add(series)
    await session.flush()
    appointments = await extend_series(
        session, series, until=now.date() + datetime.timedelta(days=horizon_days), now=now
    )
    await transition(session, request, "scheduled", "schedule", actor_id=actor_id, note="recurring")
    return Outcome(
        request,
        appointments=appointments,
        notify=[
            ("appointment_scheduled", request.beneficiary_id),
            ("appointment_scheduled", request.volunteer_id),
        ],
    )


def series_dates(series: AppointmentSeries, until: datetime.date) -> list[datetime.date]:
    first = series.starts_on + datetime.timedelta(days=(series.weekday - series.starts_on.weekday()) % 7)
    dates = []
    day = first
    last = min(until, series.ends_on) if series.ends_on else until
    while day <= last:
        dates.append(day)
        day += datetime.timedelta(weeks=series.interval_weeks)
    return dates


async def extend_series(
    session: AsyncSession,
    series: AppointmentSeries,
    *,
    until: datetime.date,
    now: datetime.datetime | None = None,
) -> list[Appointment]:
    """Create the series' appointments up to ``until`` that do not exist yet (idempotent), Paris time.
    Those a pause cancelled come back (the same rows); any other cancelled visit stays cancelled."""
    now = now or now_utc()
    if series.paused_at is not None:
        return []
    # The series' row lock: a resume and the daily job extending at once cannot both add a visit.
    await session.execute(
        select(AppointmentSeries.id).where(AppointmentSeries.id == series.id).with_for_update()
    )
    existing: dict[datetime.datetime, Appointment] = {}
    for found in await session.scalars(
        select(Appointment)
        .where(Appointment.series_id == series.id, Appointment.starts_at > now)
        .order_by(Appointment.created_at)
    ):
        if found.starts_at not in existing or existing[found.starts_at].cancel_reason == PAUSED:
            existing[found.starts_at] = found
    created = []
    for day in series_dates(series, until):
        local = datetime.datetime.combine(
            day, datetime.time(series.start_minute // 60, series.start_minute % 60), tzinfo=clock.PARIS
        )
        starts_at = local.astimezone(datetime.UTC)
        if starts_at <= now:
            continue
        known = existing.get(starts_at)
        if known is not None:
            if known.status == "cancelled" and known.cancel_reason == PAUSED:
                known.status, known.cancel_reason, known.reminded_at = "scheduled", None, None
                created.append(known)
            continue
        appointment = Appointment(
            id=uuid.uuid4(),
            request_id=series.request_id,
            series_id=series.id,
            volunteer_id=series.volunteer_id,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(minutes=series.duration_minutes),
            status="scheduled",
        )
        session.add(appointment)
        created.append(appointment)
    await session.flush()
    return created


async def complete(
    session: AsyncSession,
    request: HelpRequest,
    appointment: Appointment,
    *,
    actor_id: uuid.UUID,
    no_show: bool = False,
    now: datetime.datetime | None = None,
) -> Outcome:
    """The appointment happened (or the volunteer found nobody). A one-off request is then done; a
    recurring one stays scheduled. Two no-shows in a row make a task for the coordinator."""
    now = now or now_utc()
    if appointment.request_id != request.id or appointment.status != "scheduled":
        raise LifecycleError(_("This appointment can no longer be changed: reload the page."))
    if appointment.starts_at > now:
        raise LifecycleError(_("This appointment has not happened yet."))
    appointment.status = "no_show" if no_show else "done"
    outcome = Outcome(request)
    if no_show:
        recent = list(
            await session.scalars(
                select(Appointment.status)
                .where(Appointment.request_id == request.id, Appointment.status.in_(("done", "no_show")))
                .order_by(Appointment.starts_at.desc())
                .limit(NO_SHOW_LIMIT)
            )
        )
        if len(recent) >= NO_SHOW_LIMIT and all(s == "no_show" for s in recent):
            outcome.tasks.append(
                await add_task(
                    session,
                    "call_person",
                    person_id=request.beneficiary_id,
                    request_id=request.id,
                    note="no_show",
                    dedupe_key=f"no_show:{appointment.id}",
                )
            )
        audit.record(
            session,
            "appointment_no_show",
            actor_id=actor_id,
            subject_type="help_request",
            subject_id=request.id,
        )
        return outcome
    if not request.recurring:
        await transition(session, request, "done", "complete", actor_id=actor_id)
        outcome.notify.append(("feedback_wanted", request.beneficiary_id))
    else:
        audit.record(
            session, "appointment_done", actor_id=actor_id, subject_type="help_request", subject_id=request.id
        )
    manifest = find_module(request.module)
    hook = manifest.hooks.get("on_appointment_done") if manifest else None
    if hook is not None:
        await hook(session, request, appointment)
    return outcome


async def add_task(
    session: AsyncSession,
    kind: str,
    *,
    person_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    note: str | None = None,
    dedupe_key: str | None = None,
) -> CoordinatorTask:
    if dedupe_key is not None:
        existing = await session.scalar(
            select(CoordinatorTask).where(CoordinatorTask.dedupe_key == dedupe_key)
        )
        if existing is not None:
            return existing
    task = CoordinatorTask(
        id=uuid.uuid4(),
        kind=kind,
        person_id=person_id,
        request_id=request_id,
        note=note,
        dedupe_key=dedupe_key,
    )
    session.add(task)
    await session.flush()
    return task


async def report(
    session: AsyncSession,
    request: HelpRequest,
    appointment: Appointment,
    *,
    author: Person,
    mood: str,
    observations: str,
    warning_signs: Sequence[str],
) -> Outcome:
    """The visit report. A warning sign (fall, not eating, low mood, unmet need) makes a task for the
    coordinators at once."""
    from bippop.aid.models import MOODS, WARNING_SIGNS

    if appointment.request_id != request.id or appointment.volunteer_id != author.id:
        raise LifecycleError(_("Only the volunteer of this visit can report it."))
    if appointment.status not in ("done", "scheduled"):
        raise LifecycleError(_("This visit did not take place, so there is nothing to report."))
    if mood not in MOODS:
        raise LifecycleError(_("Choose how the person seemed."), field="mood")
    signs = [s for s in dict.fromkeys(warning_signs)]
    if any(s not in WARNING_SIGNS for s in signs):
        raise LifecycleError(_("Choose among the warning signs offered."), field="warning_signs")
    if len(observations) > 4000:
        raise LifecycleError(_("At most %(n)d characters, please.") % {"n": 4000}, field="observations")
    existing = await session.scalar(select(VisitReport).where(VisitReport.appointment_id == appointment.id))
    if existing is not None:
        raise LifecycleError(_("This visit has already been reported. Thank you!"))
    outcome = Outcome(request)
    if appointment.status == "scheduled":
        outcome = await complete(session, request, appointment, actor_id=author.id)
    session.add(
        VisitReport(
            id=uuid.uuid4(),
            appointment_id=appointment.id,
            author_id=author.id,
            mood=mood,
            observations=observations.strip(),
            warning_signs=signs,
        )
    )
    if request.status == "done":
        await transition(session, request, "reported", "report", actor_id=author.id)
    else:
        audit.record(
            session, "visit_reported", actor_id=author.id, subject_type="help_request", subject_id=request.id
        )
    if signs or mood == "worrying":
        outcome.tasks.append(
            await add_task(
                session,
                "warning_sign",
                person_id=request.beneficiary_id,
                request_id=request.id,
                note=",".join(signs) or "worrying",
                dedupe_key=f"warning:{appointment.id}",
            )
        )
    return outcome


async def give_feedback(
    session: AsyncSession, request: HelpRequest, *, author_id: uuid.UUID, rating: int, comment: str
) -> Outcome:
    if not 1 <= rating <= 5:
        raise LifecycleError(_("Choose a rating from 1 to 5."), field="rating")
    if request.status not in ("done", "reported", "scheduled", "closed"):
        raise LifecycleError(_("You can give your opinion once the help has taken place."))
    existing = await session.scalar(
        select(Feedback).where(Feedback.request_id == request.id, Feedback.author_id == author_id)
    )
    if existing is not None:
        existing.rating, existing.comment = rating, comment.strip()[:2000]
    else:
        session.add(
            Feedback(
                id=uuid.uuid4(),
                request_id=request.id,
                author_id=author_id,
                rating=rating,
                comment=comment.strip()[:2000],
            )
        )
    outcome = Outcome(request)
    if request.status in ("done", "reported"):
        await transition(session, request, "closed", "feedback", actor_id=author_id)
        request.closed_at = now_utc()
        outcome.appointments = await _cancel_future(session, request, None, request.closed_at)
    return outcome


async def _cancel_future(
    session: AsyncSession, request: HelpRequest, reason: str | None, now: datetime.datetime
) -> list[Appointment]:
    """Cancel the request's appointments still to come and end its series (the volunteer's list and
    calendar feed show only scheduled ones)."""
    future = list(
        await session.scalars(
            select(Appointment).where(
                Appointment.request_id == request.id,
                Appointment.status == "scheduled",
                Appointment.starts_at > now,
            )
        )
    )
    for appointment in future:
        appointment.status = "cancelled"
        appointment.cancel_reason = reason[:300] if reason else None
    for series in await session.scalars(
        select(AppointmentSeries).where(
            AppointmentSeries.request_id == request.id, AppointmentSeries.ends_on.is_(None)
        )
    ):
        series.ends_on = now.date()
    return future


async def cancel(
    session: AsyncSession,
    request: HelpRequest,
    *,
    actor_id: uuid.UUID,
    reason: str,
    now: datetime.datetime | None = None,
) -> Outcome:
    reason = reason.strip()
    if not reason:
        raise LifecycleError(
            _("Please say in a few words why, so that everyone understands."), field="reason"
        )
    now = now or now_utc()
    volunteer_id = request.volunteer_id
    await transition(session, request, "cancelled", "cancel", actor_id=actor_id, note=reason)
    request.cancel_reason, request.cancelled_by = reason[:300], actor_id
    cancelled = await _cancel_future(session, request, reason, now)
    outcome = Outcome(request, appointments=cancelled)
    for person_id in (request.beneficiary_id, volunteer_id):
        if person_id is not None and person_id != actor_id:
            outcome.notify.append(("request_cancelled", person_id))
    return outcome


async def release(
    session: AsyncSession,
    request: HelpRequest,
    *,
    action: str,
    actor_id: uuid.UUID | None,
    reason: str,
    now: datetime.datetime | None = None,
) -> Outcome:
    """The volunteer steps back (``withdraw``), a coordinator takes them off (``reassign``), or they lost the
    vetting this module needs (``vetting_lost``): the request is open again, future visits cancelled."""
    now = now or now_utc()
    previous = request.volunteer_id
    await transition(session, request, "open", action, actor_id=actor_id, note=reason)
    request.volunteer_id = None
    cancelled = await _cancel_future(session, request, reason, now)
    outcome = Outcome(request, appointments=cancelled, notify=[("request_reopened", request.beneficiary_id)])
    if previous is not None and previous != actor_id:
        outcome.notify.append(("request_released", previous))
    return outcome


async def pause(
    session: AsyncSession, request: HelpRequest, *, actor_id: uuid.UUID, now: datetime.datetime | None = None
) -> Outcome:
    now = now or now_utc()
    if not request.recurring:
        raise LifecycleError(_("Only regular visits can be paused."))
    await transition(session, request, "paused", "pause", actor_id=actor_id)
    for series in await session.scalars(
        select(AppointmentSeries).where(
            AppointmentSeries.request_id == request.id, AppointmentSeries.paused_at.is_(None)
        )
    ):
        series.paused_at = now
    cancelled = await _cancel_future(session, request, PAUSED, now)
    # _cancel_future ended the series; a pause keeps them, to resume.
    for series in await session.scalars(
        select(AppointmentSeries).where(
            AppointmentSeries.request_id == request.id, AppointmentSeries.ends_on == now.date()
        )
    ):
        series.ends_on = None
    return Outcome(
        request,
        appointments=cancelled,
        notify=[
            ("series_paused", p)
            for p in (request.beneficiary_id, request.volunteer_id)
            if p and p != actor_id
        ],
    )


async def resume(
    session: AsyncSession,
    request: HelpRequest,
    *,
    actor_id: uuid.UUID,
    now: datetime.datetime | None = None,
    horizon_days: int = SERIES_HORIZON_DAYS,
) -> Outcome:
    now = now or now_utc()
    await transition(session, request, "scheduled", "resume", actor_id=actor_id)
    created: list[Appointment] = []
    for series in await session.scalars(
        select(AppointmentSeries).where(
            AppointmentSeries.request_id == request.id, AppointmentSeries.paused_at.is_not(None)
        )
    ):
        series.paused_at = None
        series.starts_on = max(series.starts_on, now.date())
        created.extend(
            await extend_series(
                session, series, until=now.date() + datetime.timedelta(days=horizon_days), now=now
            )
        )
    return Outcome(
        request,
        appointments=created,
        notify=[
            ("series_resumed", p)
            for p in (request.beneficiary_id, request.volunteer_id)
            if p and p != actor_id
        ],
    )


async def close(
    session: AsyncSession,
    request: HelpRequest,
    *,
    coordinator_id: uuid.UUID,
    now: datetime.datetime | None = None,
) -> Outcome:
    await transition(session, request, "closed", "close", actor_id=coordinator_id)
    request.closed_at = now or now_utc()
    return Outcome(request, appointments=await _cancel_future(session, request, None, request.closed_at))


async def vetting_changed(
    session: AsyncSession,
    volunteer: Person,
    *,
    today: datetime.date | None = None,
    occasion: str | None = None,
) -> list[CoordinatorTask]:
    """A volunteer's vetting went down (or expired): each request they are matched on that needs more
    gets a task for the coordinators, who decide (the volunteer is not silently removed). One task per
    request and ``occasion`` (by default the day: a change made twice that day alerts once)."""
    today = today or clock.today()
    level = volunteer.vetting_on(today)
    tasks = []
    for request in await session.scalars(
        select(HelpRequest).where(
            HelpRequest.volunteer_id == volunteer.id,
            HelpRequest.status.in_(WITH_VOLUNTEER),
        )
    ):
        manifest = find_module(request.module)
        if manifest is not None and level < manifest.matching.vetting_level:
            tasks.append(
                await add_task(
                    session,
                    "vetting_lost",
                    person_id=volunteer.id,
                    request_id=request.id,
                    note=f"level {level} < {manifest.matching.vetting_level}",
                    dedupe_key=f"vetting:{request.id}:{volunteer.id}:{occasion or today.isoformat()}",
                )
            )
    return tasks
