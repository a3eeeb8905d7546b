"""Jobs of the help-request domain. Each periodic one fans out from platform scope to one job per active
tenant (only the tenant's id travels: ``tenants/job_middleware.py``), and each tenant job is idempotent:

- ``extend_recurring_series`` (daily, 02:30 Paris): every live series keeps its appointments
  ``lifecycle.SERIES_HORIZON_DAYS`` ahead; without it, regular visits stopped after four weeks.
  A paused series is left alone; its resume brings back what the pause took away.
- ``check_vettings`` (daily, 09:00 Paris, not to wake anyone with a text): a volunteer whose vetting has
  ended is handled as one whose vetting was lowered (``lifecycle.vetting_changed``: a task for the
  coordinators per request that needs it, once per end date); one whose vetting ends within 30 days
  is told through the outbox, once per end date.
- ``reoffer_requests`` (hourly): a request offered ``BIPPOP_REOFFER_AFTER_HOURS`` ago that nobody
  popped goes to the next best volunteers, never to someone it was already offered to; nobody left,
  and the coordinators get a task, once (``offering.offer_to_next``).
- ``send_reminders`` (every 10 minutes) and ``send_digests`` (daily, 17:00 Paris): the appointment
  reminders and the volunteers' digest, in ``aid/reminders.py``.

The work of each tenant job takes a session and a ``Clock``, so that tests move time by hand; the actors
read the process's clock (``bippop.clock.current()``).
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import dramatiq
import structlog
from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

import bippop.broker  # noqa: F401  (declares actors against the platform's broker)
from bippop import clock as clocks
from bippop.accounts.models import Person
from bippop.aid import lifecycle, offering, reminders
from bippop.aid.models import Appointment, AppointmentSeries, CoordinatorTask, HelpRequest, RequestOffer
from bippop.aid.notices import notify_sync
from bippop.clock import Clock
from bippop.config import Settings
from bippop.jobs import PeriodicJob
from bippop.modules.registry import enabled_slugs, visible_modules
from bippop.notifications.jobs import enqueue_deliveries
from bippop.tenants.context import require_tenant
from bippop.tenants.jobs import enqueue_per_active_tenant

log = structlog.get_logger(__name__)
T = TypeVar("T")
VETTING_NOTICE_DAYS = 30  # how long before its end a volunteer is told their vetting ends
REOFFER_BATCH = 200  # requests re-offered per tenant and run; the rest wait for the next hour


# The work, in one tenant's session ------------------------------------------------------------


async def extend_live_series(session: AsyncSession, *, clock: Clock) -> list[Appointment]:
    """Give every live series its appointments up to the horizon; returns those added (or brought back).
    Series locked by another run are skipped: that run extends them."""
    now = clock.now()
    until = now.date() + datetime.timedelta(days=lifecycle.SERIES_HORIZON_DAYS)
    live = (
        await session.scalars(
            select(AppointmentSeries)
            .join(HelpRequest, HelpRequest.id == AppointmentSeries.request_id)
            .where(
                HelpRequest.status == "scheduled",
                AppointmentSeries.paused_at.is_(None),
                or_(AppointmentSeries.ends_on.is_(None), AppointmentSeries.ends_on >= now.date()),
            )
            .order_by(AppointmentSeries.id)
            .with_for_update(of=AppointmentSeries, skip_locked=True)
        )
    ).all()
    added: list[Appointment] = []
    for series in live:
        added.extend(await lifecycle.extend_series(session, series, until=until, now=now))
    return added


async def check_vettings_of(
    session: AsyncSession, *, clock: Clock, settings: Settings
) -> tuple[list[CoordinatorTask], list[uuid.UUID]]:
    """Ended vettings → the coordinators' tasks (once per request and end date); vettings ending within
    ``VETTING_NOTICE_DAYS`` → a message to the volunteer (once per end date). Returns (tasks, outbox ids)."""
    today = clock.today()
    matched = exists(
        select(HelpRequest.id).where(
            HelpRequest.volunteer_id == Person.id, HelpRequest.status.in_(lifecycle.WITH_VOLUNTEER)
        )
    )
    ended = await session.scalars(
        select(Person)
        .where(Person.vetting_level > 0, Person.vetted_until < today, matched)
        .order_by(Person.id)
    )
    tasks: list[CoordinatorTask] = []
    for volunteer in ended.all():
        assert volunteer.vetted_until is not None
        tasks.extend(
            await lifecycle.vetting_changed(
                session, volunteer, today=today, occasion=f"ended-{volunteer.vetted_until.isoformat()}"
            )
        )
    ending = (
        await session.scalars(
            select(Person.id).where(
                Person.roles.contains(["volunteer"]),
                Person.disabled_at.is_(None),
                Person.vetting_level > 0,
                Person.vetted_until >= today,
                Person.vetted_until <= today + datetime.timedelta(days=VETTING_NOTICE_DAYS),
            )
        )
    ).all()

    def tell(sync: Session) -> list[uuid.UUID]:
        ids: list[uuid.UUID] = []
        for person_id in ending:
            person = sync.get(Person, person_id)
            if person is None or person.vetted_until is None:
                continue
            ids.extend(
                notify_sync(
                    sync,
                    person_id=person_id,
                    purpose="vetting_expiring",
                    dedupe_key=f"vetting-expiring:{person_id}:{person.vetted_until.isoformat()}",
                    settings=settings,
                    now=clock.now(),
                )
            )
        return ids

    return tasks, await session.run_sync(tell)


async def reoffer_waiting(
    session: AsyncSession, *, clock: Clock, after: datetime.timedelta
) -> dict[uuid.UUID, int]:
    """Offer each request nobody popped since its last offer, ``after`` ago, to the next best volunteers;
    returns {request id: volunteers newly offered (0: a task for the coordinators)}. Requests whose
    re-offering already found nobody are left to the coordinators; locked ones to the run holding them."""
    now = clock.now()
    last_offer = (
        select(func.max(RequestOffer.offered_at))
        .where(RequestOffer.request_id == HelpRequest.id)
        .scalar_subquery()
    )
    exhausted = exists(
        select(CoordinatorTask.id).where(
            CoordinatorTask.request_id == HelpRequest.id,
            CoordinatorTask.dedupe_key.startswith(offering.EXHAUSTED_PREFIX),
        )
    )
    visible = visible_modules(await enabled_slugs(session))
    waiting = (
        await session.scalars(
            select(HelpRequest)
            .where(
                HelpRequest.status == "offered",
                HelpRequest.volunteer_id.is_(None),
                HelpRequest.module.in_(visible),
                last_offer <= now - after,
                ~exhausted,
            )
            .order_by(HelpRequest.created_at, HelpRequest.id)
            .limit(REOFFER_BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    return {request.id: await offering.offer_to_next(session, request, now=now) for request in waiting}


# Running it in the current tenant ---------------------------------------------------------------


def _in_current_tenant(work: Callable[[AsyncSession, Clock, Settings], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction of the current tenant (restored by the job middleware), with the
    process's clock, and commit. The lifecycle is asynchronous: the job runs it on a loop of its own."""
    from bippop.db.engine import async_session_factory, make_async_engine
    from bippop.tenants.resources import platform_resources

    tenant = require_tenant()
    settings = platform_resources().settings
    clock = clocks.current()

    async def run() -> T:
        engine = make_async_engine(settings, tenant.cluster)
        try:
            async with async_session_factory(engine)(
                info={"tenant": tenant, "settings": settings}
            ) as session:
                result = await work(session, clock, settings)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


@dramatiq.actor(queue_name="aid", max_retries=5, min_backoff=10_000)
def extend_tenant_series() -> None:
    """The current tenant's series (enqueued by ``extend_recurring_series``)."""
    added = _in_current_tenant(lambda session, clock, _settings: extend_live_series(session, clock=clock))
    log.info("series_extended", appointments=len(added))


@dramatiq.actor(queue_name="aid", max_retries=5, min_backoff=10_000)
def check_tenant_vettings() -> None:
    """The current tenant's ended and ending vettings (enqueued by ``check_vettings``)."""
    tasks, ids = _in_current_tenant(
        lambda session, clock, settings: check_vettings_of(session, clock=clock, settings=settings)
    )
    enqueue_deliveries(require_tenant(), ids)
    log.info("vettings_checked", tasks=len(tasks), messages=len(ids))


@dramatiq.actor(queue_name="aid", max_retries=5, min_backoff=10_000)
def reoffer_tenant_requests() -> None:
    """The current tenant's requests nobody answered (enqueued by ``reoffer_requests``)."""
    outcome = _in_current_tenant(
        lambda session, clock, settings: reoffer_waiting(
            session, clock=clock, after=datetime.timedelta(hours=settings.reoffer_after_hours)
        )
    )
    log.info("requests_reoffered", requests=len(outcome), exhausted=sum(1 for n in outcome.values() if not n))


@dramatiq.actor(queue_name="aid", max_retries=0)
def extend_recurring_series() -> None:
    """Daily: one ``extend_tenant_series`` job per active tenant."""
    enqueue_per_active_tenant(extend_tenant_series)


@dramatiq.actor(queue_name="aid", max_retries=0)
def check_vettings() -> None:
    """Daily: one ``check_tenant_vettings`` job per active tenant."""
    enqueue_per_active_tenant(check_tenant_vettings)


@dramatiq.actor(queue_name="aid", max_retries=0)
def reoffer_requests() -> None:
    """Hourly: one ``reoffer_tenant_requests`` job per active tenant."""
    enqueue_per_active_tenant(reoffer_tenant_requests)


# When the scheduler enqueues them (collected by bippop.scheduler).
PERIODIC_JOBS = (
    PeriodicJob(extend_recurring_series, cron={"hour": 2, "minute": 30}, misfire_grace_time=6 * 3600),
    PeriodicJob(check_vettings, cron={"hour": 9, "minute": 0}, misfire_grace_time=3 * 3600),
    PeriodicJob(reoffer_requests, every={"hours": 1}),
    # The appointment reminders and the volunteers' digest (their actors live in aid/reminders.py).
    *reminders.PERIODIC_JOBS,
)
