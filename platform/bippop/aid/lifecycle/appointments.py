"""Appointments: a one-off visit, a recurring series (its visits made up to a horizon, Paris time), a
pause and a resume, and the future visits a request takes with it when it ends."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.aid.lifecycle.machine import (
    PAUSED,
    SERIES_HORIZON_DAYS,
    LifecycleError,
    Outcome,
    now_utc,
    transition,
)
from bippop.aid.models import Appointment, AppointmentSeries, HelpRequest
from bippop.web.i18n import _


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
    # Over 60 lines: checks, the series row, its first appointments and the audit, in one transaction.
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


async def cancel_future(
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
    cancelled = await cancel_future(session, request, PAUSED, now)
    # cancel_future ended the series; a pause keeps them, to resume.
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
