"""The help-request domain's jobs, against the real database with a hand-moved clock: regular visits go
on past their first four weeks (and not while paused), an ended vetting reaches the coordinators once
and the volunteer is told a month before, once, and a request nobody answered goes to the next best
volunteers, then to the coordinators. Each job is idempotent and runs in one tenant only."""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import dramatiq
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bippop import clock as clocks
from bippop.accounts.models import Person
from bippop.aid import jobs as aid_jobs
from bippop.aid import lifecycle, offering
from bippop.aid.models import Appointment, CoordinatorTask, HelpRequest, RequestOffer
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.modules.registry import installed_modules
from bippop.outbox.models import OutboxMessage
from bippop.tenants.context import NoTenant, TenantRef, current_tenant, tenant_scope
from support import HandClock, make_tenant, running_worker

SLUG = "aidjobs"
T = TypeVar("T")
# A Monday, 08:00 in Paris (winter); the walk below crosses the change to summer time on 30 March.
T0 = datetime.datetime(2031, 1, 6, 7, 0, tzinfo=datetime.UTC)
WEDNESDAY, TEN = 2, 10 * 60
REOFFER = datetime.timedelta(hours=Settings().reoffer_after_hours)


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    """This module's own tenant: its volunteers are the only ones ranking can find."""
    return make_tenant(settings, SLUG, "Aideville")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine, town: TenantRef) -> AsyncIterator[AsyncSession]:
    """A session of the town whose writes are all undone at the end."""
    async with async_session_factory(engine)(info={"tenant": town}) as session:
        yield session
        await session.rollback()


async def person(db: AsyncSession, roles: list[str], **values: Any) -> Person:
    defaults: dict[str, Any] = {
        "display_name": f"{roles[0].title()} {uuid.uuid4().hex[:4]}",
        "email": f"{uuid.uuid4().hex[:8]}@example.org",
        "locale": "en",
    }
    found = Person(id=uuid.uuid4(), roles=roles, **{**defaults, **values})
    db.add(found)
    await db.flush()
    return found


async def volunteer(db: AsyncSession, **values: Any) -> Person:
    return await person(db, ["volunteer"], **{"vetting_level": 1, **values})


async def new_request(db: AsyncSession, *, recurring: bool = False, **place: float) -> HelpRequest:
    beneficiary = await person(db, ["beneficiary"], **place)
    outcome = await lifecycle.create_request(
        db,
        manifest=installed_modules()["visits"],
        beneficiary=beneficiary,
        actor=beneficiary,
        created_as="beneficiary",
        details={"frequency": "weekly" if recurring else "once"},
        recurring=recurring,
    )
    return outcome.request


async def weekly_visits(db: AsyncSession, now: datetime.datetime, **series: Any) -> HelpRequest:
    """A recurring request with a volunteer and a Wednesday 10:00 series starting ``now``."""
    request = await new_request(db, recurring=True)
    helper = await volunteer(db)
    await lifecycle.pop(db, request, helper)
    await lifecycle.schedule_series(
        db,
        request,
        weekday=WEDNESDAY,
        start_minute=TEN,
        starts_on=now.date(),
        actor_id=helper.id,
        now=now,
        **series,
    )
    return request


async def scheduled(db: AsyncSession, request: HelpRequest) -> list[datetime.datetime]:
    return list(
        await db.scalars(
            select(Appointment.starts_at)
            .where(Appointment.request_id == request.id, Appointment.status == "scheduled")
            .order_by(Appointment.starts_at)
        )
    )


def wednesdays_at_ten(first: datetime.date, last: datetime.date) -> list[datetime.datetime]:
    days = (first + datetime.timedelta(days=n) for n in range((last - first).days + 1))
    return [
        datetime.datetime.combine(day, datetime.time(10), tzinfo=clocks.PARIS).astimezone(datetime.UTC)
        for day in days
        if day.weekday() == WEDNESDAY
    ]


# Regular visits ----------------------------------------------------------------------------------


async def test_a_weekly_series_walks_through_90_days_one_visit_a_week(db: AsyncSession) -> None:
    hand = HandClock(T0)
    request = await weekly_visits(db, hand.now())
    coordinator = await person(db, ["coordinator"])
    horizon = datetime.timedelta(days=lifecycle.SERIES_HORIZON_DAYS)
    paused_at = resumed_at = None
    for day in range(1, 91):
        hand.advance(days=1)
        if day == 30:
            await lifecycle.pause(db, request, actor_id=coordinator.id, now=hand.now())
            paused_at = hand.now()
        if day == 51:
            await lifecycle.resume(db, request, actor_id=coordinator.id, now=hand.now())
            resumed_at = hand.now()
        await aid_jobs.extend_live_series(db, clock=hand)
        if day % 7 == 0:
            assert await aid_jobs.extend_live_series(db, clock=hand) == []  # a second run adds nothing
        coming = [s for s in await scheduled(db, request) if s > hand.now()]
        if 30 <= day < 51:
            assert coming == [], f"day {day}: a paused series got visits"
        else:
            # The next four weeks always hold their four visits (without the job, none after week 4).
            assert len([s for s in coming if s <= hand.now() + horizon]) == 4, f"day {day}: {coming}"
    assert paused_at is not None and resumed_at is not None
    visits = await scheduled(db, request)
    assert len(visits) == len(set(visits)), "a visit was set twice"
    expected = [
        moment
        for moment in wednesdays_at_ten(T0.date(), hand.now().date() + horizon)
        if moment <= paused_at or moment > resumed_at
    ]
    assert visits == expected
    weeks = [moment.astimezone(clocks.PARIS).isocalendar()[:2] for moment in visits]
    assert len(weeks) == len(set(weeks))  # one a week, at 10:00 Paris time in winter and in summer
    assert {moment.astimezone(clocks.PARIS).hour for moment in visits} == {10}
    gap = [m for m in wednesdays_at_ten(paused_at.date(), resumed_at.date()) if paused_at < m <= resumed_at]
    assert len(gap) == 3 and not set(gap) & set(visits)  # the three weeks of the pause have no visit


async def test_a_series_stops_with_its_request_and_keeps_a_visit_cancelled_by_hand(db: AsyncSession) -> None:
    hand = HandClock(T0)
    request = await weekly_visits(db, hand.now())
    first = min(await scheduled(db, request))
    one = await db.scalar(
        select(Appointment).where(Appointment.request_id == request.id, Appointment.starts_at == first)
    )
    assert one is not None
    one.status, one.cancel_reason = "cancelled", "Doctor's appointment"
    await db.flush()
    await aid_jobs.extend_live_series(db, clock=hand)
    assert first not in await scheduled(db, request)  # the job does not bring back what a person cancelled
    coordinator = await person(db, ["coordinator"])
    await lifecycle.cancel(
        db, request, actor_id=coordinator.id, reason="Moved to a care home", now=hand.now()
    )
    for _week in range(6):
        hand.advance(days=7)
        await aid_jobs.extend_live_series(db, clock=hand)
    assert await scheduled(db, request) == []


def test_two_runs_at_once_extend_each_series_once(settings: Settings, town: TenantRef) -> None:
    now = clocks.now()

    async def setup(db: AsyncSession) -> uuid.UUID:
        request = await weekly_visits(db, now, horizon_days=7)
        return request.id

    request_id = in_tenant(settings, town, setup)
    before = series_visits(settings, town, request_id)

    async def race() -> list[int]:
        engine = make_async_engine(settings)
        try:

            async def one_run() -> int:
                async with async_session_factory(engine)(info={"tenant": town}) as session:
                    added = await aid_jobs.extend_live_series(session, clock=clocks.SYSTEM)
                    await session.commit()
                    return len([a for a in added if a.request_id == request_id])

            return list(await asyncio.gather(*(one_run() for _ in range(8))))
        finally:
            await engine.dispose()

    added = asyncio.run(race())

    async def visits(db: AsyncSession) -> list[datetime.datetime]:
        return list(
            await db.scalars(
                select(Appointment.starts_at).where(
                    Appointment.request_id == request_id, Appointment.status == "scheduled"
                )
            )
        )

    found = in_tenant(settings, town, visits)
    wanted = [m for m in wednesdays_at_ten(now.date(), now.date() + datetime.timedelta(days=28)) if m > now]
    assert sorted(found) == wanted  # each Wednesday once, though eight runs raced
    assert sum(added) == len(found) - before and max(added) == sum(added)  # one run did it all

    async def cleanup(db: AsyncSession) -> None:
        await db.execute(delete(HelpRequest).where(HelpRequest.id == request_id))

    in_tenant(settings, town, cleanup)


# Vetting ---------------------------------------------------------------------------------------------


async def test_an_ending_vetting_is_told_once_and_an_ended_one_reaches_the_coordinators_once(
    db: AsyncSession, settings: Settings
) -> None:
    hand = HandClock(datetime.datetime(2031, 5, 1, 7, 0, tzinfo=datetime.UTC))  # 09:00 in Paris
    ends = datetime.date(2031, 6, 15)
    helper = await volunteer(db, vetted_until=ends, display_name="Paul Durand")
    steady = await volunteer(db)  # vetted with no end date: never told anything
    request = await new_request(db)
    await lifecycle.pop(db, request, helper, today=hand.today())
    await lifecycle.schedule(
        db, request, hand.now() + datetime.timedelta(days=60), actor_id=helper.id, now=hand.now()
    )
    told_on, alerted_on = [], []
    for _day in range(61):
        _tasks, ids = await aid_jobs.check_vettings_of(db, clock=hand, settings=settings)
        if ids:
            told_on.append(hand.today())
        if await tasks_of(db, helper, "vetting_lost"):
            alerted_on.append(hand.today())
        hand.advance(days=1)
    assert told_on == [ends - datetime.timedelta(days=30)]  # a month before, and never again
    (message,) = await messages_of(db, helper)
    assert message.purpose == "vetting_expiring" and message.channel == "email"
    assert message.subject == "Your vetting ends soon — Aideville"
    assert message.body.startswith("Hello Paul,") and "Ask your coordinator to renew it" in message.body
    assert "See the request" not in message.body  # about the volunteer, not about a request
    assert alerted_on[0] == ends + datetime.timedelta(days=1)  # the day after the last valid day
    (task,) = await tasks_of(db, helper, "vetting_lost")
    assert task.request_id == request.id and task.status == "open"
    # The existing rule: the coordinators decide; the volunteer is not silently taken off.
    assert request.status == "scheduled" and request.volunteer_id == helper.id
    assert await messages_of(db, steady) == [] and await tasks_of(db, steady, "vetting_lost") == []
    # Renewed for a year: told again a month before the new end, once.
    helper.vetted_until = datetime.date(2032, 6, 15)
    await db.flush()
    hand.at = datetime.datetime(2032, 5, 20, 7, 0, tzinfo=datetime.UTC)
    for _day in range(3):
        await aid_jobs.check_vettings_of(db, clock=hand, settings=settings)
        hand.advance(days=1)
    assert len(await messages_of(db, helper)) == 2 and len(await tasks_of(db, helper, "vetting_lost")) == 1


async def tasks_of(db: AsyncSession, someone: Person, kind: str) -> list[CoordinatorTask]:
    return list(
        await db.scalars(
            select(CoordinatorTask).where(
                CoordinatorTask.person_id == someone.id, CoordinatorTask.kind == kind
            )
        )
    )


async def messages_of(db: AsyncSession, someone: Person) -> list[OutboxMessage]:
    return list(
        await db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.person_id == someone.id)
            .order_by(OutboxMessage.created_at)
        )
    )


# Re-offering ----------------------------------------------------------------------------------------


async def test_a_request_nobody_answered_goes_to_the_next_best_then_to_the_coordinators(
    db: AsyncSession,
) -> None:
    hand = HandClock(T0)
    # Twelve volunteers in a row east of the person, 100 m apart, far from anyone else's tests.
    place = {"latitude": 43.60, "longitude": 1.44}
    helpers = [await volunteer(db, latitude=43.60, longitude=1.44 + n * 0.0012) for n in range(12)]
    request = await new_request(db, **place)
    taken = await new_request(db, **place)
    assert await offering.offer_to_best(db, request, now=hand.now()) == offering.AUTO_OFFER
    await offering.offer_to_best(db, taken, now=hand.now())
    await lifecycle.pop(db, taken, helpers[0])
    first_round = await offered_to(db, request)
    assert first_round == {h.id for h in helpers[:10]}  # the ten nearest

    hand.advance(hours=REOFFER.total_seconds() / 3600 - 1)
    assert await aid_jobs.reoffer_waiting(db, clock=hand, after=REOFFER) == {}  # not yet
    hand.advance(hours=2)
    assert await aid_jobs.reoffer_waiting(db, clock=hand, after=REOFFER) == {request.id: 2}
    assert await offered_to(db, request) - first_round == {h.id for h in helpers[10:]}  # only the two others
    assert await aid_jobs.reoffer_waiting(db, clock=hand, after=REOFFER) == {}  # a second run: nothing more
    assert await open_tasks(db, request) == []

    hand.advance(hours=REOFFER.total_seconds() / 3600 + 1)
    assert await aid_jobs.reoffer_waiting(db, clock=hand, after=REOFFER) == {request.id: 0}  # nobody left
    (task,) = await open_tasks(db, request)
    assert task.kind == "unmatched" and task.note == "nobody answered"
    for _day in range(5):
        hand.advance(days=1)
        assert await aid_jobs.reoffer_waiting(db, clock=hand, after=REOFFER) == {}
    assert len(await open_tasks(db, request)) == 1 and len(await offered_to(db, request)) == 12
    assert request.status == "offered" and taken.status == "matched"
    assert len(await offered_to(db, taken)) == 10  # a request someone answered is not offered again


async def offered_to(db: AsyncSession, request: HelpRequest) -> set[uuid.UUID]:
    return set(
        await db.scalars(select(RequestOffer.volunteer_id).where(RequestOffer.request_id == request.id))
    )


async def open_tasks(db: AsyncSession, request: HelpRequest) -> list[CoordinatorTask]:
    return list(await db.scalars(select(CoordinatorTask).where(CoordinatorTask.request_id == request.id)))


# Each job in its tenant ----------------------------------------------------------------------------


def in_tenant(settings: Settings, tenant: TenantRef, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in a committed transaction of ``tenant`` (for the jobs, which commit their own)."""

    async def go() -> T:
        engine = make_async_engine(settings)
        try:
            async with async_session_factory(engine)(info={"tenant": tenant}) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(go())


def series_visits(settings: Settings, tenant: TenantRef, request_id: uuid.UUID) -> int:
    async def count(db: AsyncSession) -> int:
        return int(
            await db.scalar(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.request_id == request_id, Appointment.status == "scheduled")
            )
            or 0
        )

    return in_tenant(settings, tenant, count)


@pytest.fixture
def two_short_series(
    settings: Settings, town: TenantRef, other_tenant: TenantRef
) -> Iterator[dict[str, uuid.UUID]]:
    """In the town and in beta: a weekly series whose visits were set one week ahead only."""
    now = clocks.now()

    async def setup(db: AsyncSession) -> uuid.UUID:
        return (await weekly_visits(db, now, horizon_days=7)).id

    ids = {"town": in_tenant(settings, town, setup), "beta": in_tenant(settings, other_tenant, setup)}
    yield ids

    async def cleanup(db: AsyncSession, request_id: uuid.UUID) -> None:
        await db.execute(delete(HelpRequest).where(HelpRequest.id == request_id))

    in_tenant(settings, town, lambda db: cleanup(db, ids["town"]))
    in_tenant(settings, other_tenant, lambda db: cleanup(db, ids["beta"]))


def test_each_tenant_job_works_in_its_own_tenant_only(
    settings: Settings, town: TenantRef, other_tenant: TenantRef, two_short_series: dict[str, uuid.UUID]
) -> None:
    town_before = series_visits(settings, town, two_short_series["town"])
    beta_before = series_visits(settings, other_tenant, two_short_series["beta"])
    assert town_before <= 2 and beta_before <= 2
    with pytest.raises(NoTenant):
        aid_jobs.extend_tenant_series()  # a message without a tenant touches no tenant's data
    with tenant_scope(town):
        aid_jobs.extend_tenant_series()
        aid_jobs.extend_tenant_series()  # retried: nothing more
        aid_jobs.check_tenant_vettings()
        aid_jobs.reoffer_tenant_requests()
    town_after = series_visits(settings, town, two_short_series["town"])
    assert town_after >= 4 and series_visits(settings, other_tenant, two_short_series["beta"]) == beta_before
    with tenant_scope(other_tenant):
        aid_jobs.extend_tenant_series()
    assert series_visits(settings, other_tenant, two_short_series["beta"]) == town_after
    assert series_visits(settings, town, two_short_series["town"]) == town_after


def test_the_periodic_jobs_fan_out_one_message_per_active_tenant(
    settings: Settings, town: TenantRef, other_tenant: TenantRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = (
        (aid_jobs.extend_recurring_series, aid_jobs.extend_tenant_series),
        (aid_jobs.check_vettings, aid_jobs.check_tenant_vettings),
        (aid_jobs.reoffer_requests, aid_jobs.reoffer_tenant_requests),
    )
    for periodic, per_tenant in pairs:
        sent: list[tuple[uuid.UUID | None, tuple[Any, ...]]] = []

        def record(*args: Any, into: list[Any] = sent, **kwargs: Any) -> None:
            tenant = current_tenant()
            into.append((tenant.id if tenant else None, args + tuple(kwargs.values())))

        monkeypatch.setattr(per_tenant, "send", record)
        periodic()
        tenants = [tenant_id for tenant_id, _args in sent]
        assert {town.id, other_tenant.id} <= set(tenants) and None not in tenants, per_tenant.actor_name
        assert len(tenants) == len(set(tenants)) and all(args == () for _t, args in sent)  # only the scope


@pytest.mark.slow
def test_a_real_worker_extends_every_tenants_series(
    settings: Settings, town: TenantRef, other_tenant: TenantRef, two_short_series: dict[str, uuid.UUID]
) -> None:
    with running_worker(settings) as broker:
        assert isinstance(broker, dramatiq.Broker)
        aid_jobs.extend_recurring_series.send()  # what the scheduler does at 02:30
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            series_visits(settings, town, two_short_series["town"]) < 4
            or series_visits(settings, other_tenant, two_short_series["beta"]) < 4
        ):
            time.sleep(0.2)
        broker.join("aid", timeout=60_000)
    assert series_visits(settings, town, two_short_series["town"]) >= 4
    assert series_visits(settings, other_tenant, two_short_series["beta"]) >= 4
