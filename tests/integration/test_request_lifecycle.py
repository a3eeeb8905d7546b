"""Every transition of the help-request state machine, the refusals, and the race between two volunteers."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bippop.accounts.models import Mandate, Person
from bippop.aid import lifecycle
from bippop.aid.lifecycle import TRANSITIONS, AlreadyTaken, LifecycleError
from bippop.aid.models import (
    AppointmentSeries,
    HelpRequest,
    RequestEvent,
)
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.modules.registry import installed_modules
from bippop.tenants.context import TenantRef

NOW = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
TESTED: set[tuple[str, str, str]] = set()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine, tenant: TenantRef) -> AsyncIterator[AsyncSession]:
    async with async_session_factory(engine)(info={"tenant": tenant}) as session:
        yield session
        await session.rollback()


async def person(db: AsyncSession, roles: list[str], **values: object) -> Person:
    found = Person(
        id=uuid.uuid4(),
        display_name=f"P {roles}",
        email=f"{uuid.uuid4().hex[:8]}@example.org",
        roles=roles,
        **values,
    )
    db.add(found)
    await db.flush()
    return found


async def volunteer(db: AsyncSession, **values: object) -> Person:
    defaults: dict[str, object] = {"vetting_level": 2, "skills": ["reading_aloud", "admin_formalities"]}
    defaults.update(values)
    return await person(db, ["volunteer"], **defaults)


async def new_request(
    db: AsyncSession, module: str = "visits", recurring: bool = False
) -> tuple[HelpRequest, Person]:
    beneficiary = await person(db, ["beneficiary"], latitude=49.41, longitude=2.82)
    manifest = installed_modules()[module]
    details = {"frequency": "weekly" if recurring else "once"} if module == "visits" else {"where": "home"}
    outcome = await lifecycle.create_request(
        db,
        manifest=manifest,
        beneficiary=beneficiary,
        actor=beneficiary,
        created_as="beneficiary",
        details=details,
        recurring=recurring,
    )
    return outcome.request, beneficiary


def mark(request_before: str, request_after: str, action: str) -> None:
    TESTED.add((request_before, request_after, action))


async def test_created_by_beneficiary_offered_popped_scheduled_done_reported_closed(db: AsyncSession) -> None:
    request, beneficiary = await new_request(db)
    assert request.status == "open" and request.latitude == 49.41
    v1, v2 = await volunteer(db), await volunteer(db)
    await lifecycle.offer(db, request, [v1.id, v2.id], actor_id=None)
    mark("open", "offered", "offer")
    await lifecycle.offer(db, request, [v2.id], actor_id=None)
    mark("offered", "offered", "offer")
    outcome = await lifecycle.pop(db, request, v1)
    mark("offered", "matched", "pop")
    assert request.status == "matched" and request.volunteer_id == v1.id
    assert ("request_matched", beneficiary.id) in outcome.notify
    with pytest.raises(LifecycleError):
        await lifecycle.schedule(db, request, NOW - datetime.timedelta(hours=1), actor_id=v1.id, now=NOW)
    outcome = await lifecycle.schedule(db, request, NOW + datetime.timedelta(days=2), actor_id=v1.id, now=NOW)
    mark("matched", "scheduled", "schedule")
    appointment = outcome.appointments[0]
    await lifecycle.schedule(db, request, NOW + datetime.timedelta(days=3), actor_id=v1.id, now=NOW)
    mark("scheduled", "scheduled", "schedule")
    later = NOW + datetime.timedelta(days=2, hours=2)
    with pytest.raises(LifecycleError):
        await lifecycle.complete(db, request, appointment, actor_id=v1.id, now=NOW)  # not yet happened
    await lifecycle.complete(db, request, appointment, actor_id=v1.id, now=later)
    mark("scheduled", "done", "complete")
    outcome = await lifecycle.report(
        db,
        request,
        appointment,
        author=v1,
        mood="low",
        observations="A fait une chute la semaine dernière.",
        warning_signs=["fall", "low_mood"],
    )
    mark("done", "reported", "report")
    assert request.status == "reported"
    (task,) = outcome.tasks
    assert task.kind == "warning_sign" and task.note == "fall,low_mood"
    with pytest.raises(LifecycleError):
        await lifecycle.report(
            db, request, appointment, author=v1, mood="good", observations="", warning_signs=[]
        )
    await lifecycle.give_feedback(db, request, author_id=beneficiary.id, rating=5, comment="Merci !")
    mark("reported", "closed", "feedback")
    assert request.status == "closed" and request.closed_at is not None
    history = list(
        await db.scalars(
            select(RequestEvent.to_status)
            .where(RequestEvent.request_id == request.id)
            .order_by(RequestEvent.occurred_at, RequestEvent.id)
        )
    )
    assert sorted(history) == sorted(
        ["open", "offered", "offered", "matched", "scheduled", "scheduled", "done", "reported", "closed"]
    )


async def test_done_then_closed_directly(db: AsyncSession) -> None:
    request, beneficiary = await new_request(db)
    v = await volunteer(db)
    await lifecycle.pop(db, request, v)
    mark("open", "matched", "pop")
    appointment = (
        await lifecycle.schedule(db, request, NOW + datetime.timedelta(hours=5), actor_id=v.id, now=NOW)
    ).appointments[0]
    await lifecycle.complete(db, request, appointment, actor_id=v.id, now=NOW + datetime.timedelta(hours=7))
    coordinator = await person(db, ["coordinator"])
    await lifecycle.close(db, request, coordinator_id=coordinator.id)
    mark("done", "closed", "close")
    request2, _ = await new_request(db)
    v2 = await volunteer(db)
    await lifecycle.pop(db, request2, v2)
    a2 = (
        await lifecycle.schedule(db, request2, NOW + datetime.timedelta(hours=5), actor_id=v2.id, now=NOW)
    ).appointments[0]
    await lifecycle.complete(db, request2, a2, actor_id=v2.id, now=NOW + datetime.timedelta(hours=7))
    await lifecycle.give_feedback(db, request2, author_id=beneficiary.id, rating=4, comment="")
    mark("done", "closed", "feedback")
    assert request2.status == "closed"
    request3, _ = await new_request(db)
    v3 = await volunteer(db)
    await lifecycle.pop(db, request3, v3)
    a3 = (
        await lifecycle.schedule(db, request3, NOW + datetime.timedelta(hours=5), actor_id=v3.id, now=NOW)
    ).appointments[0]
    await lifecycle.complete(db, request3, a3, actor_id=v3.id, now=NOW + datetime.timedelta(hours=7))
    await lifecycle.report(db, request3, a3, author=v3, mood="good", observations="", warning_signs=[])
    await lifecycle.close(db, request3, coordinator_id=coordinator.id)
    mark("reported", "closed", "close")


async def test_coordinator_assigns_and_reassigns(db: AsyncSession) -> None:
    request, _ = await new_request(db)
    coordinator = await person(db, ["coordinator"])
    v1, v2 = await volunteer(db), await volunteer(db)
    outcome = await lifecycle.assign(db, request, v1, coordinator_id=coordinator.id)
    mark("open", "matched", "assign")
    assert ("request_assigned", v1.id) in outcome.notify
    await lifecycle.release(
        db, request, action="reassign", actor_id=coordinator.id, reason="Indisponible", now=NOW
    )
    mark("matched", "open", "reassign")
    assert request.volunteer_id is None and request.status == "open"
    await lifecycle.offer(db, request, [v2.id], actor_id=coordinator.id)
    await lifecycle.assign(db, request, v2, coordinator_id=coordinator.id)
    mark("offered", "matched", "assign")


async def test_volunteer_withdraws_after_scheduling(db: AsyncSession) -> None:
    request, beneficiary = await new_request(db)
    v = await volunteer(db)
    await lifecycle.pop(db, request, v)
    outcome = await lifecycle.schedule(db, request, NOW + datetime.timedelta(days=1), actor_id=v.id, now=NOW)
    appointment = outcome.appointments[0]
    outcome = await lifecycle.release(
        db, request, action="withdraw", actor_id=v.id, reason="Déménagement", now=NOW
    )
    mark("scheduled", "open", "withdraw")
    assert appointment.status == "cancelled" and ("request_reopened", beneficiary.id) in outcome.notify


async def test_cancel_from_every_active_state(db: AsyncSession) -> None:
    coordinator = await person(db, ["coordinator"])
    for state in ("open", "offered", "matched", "scheduled", "paused"):
        request, beneficiary = await new_request(db, recurring=True)
        v = await volunteer(db)
        if state != "open":
            await lifecycle.offer(db, request, [v.id], actor_id=None)
        if state in ("matched", "scheduled", "paused"):
            await lifecycle.pop(db, request, v)
        if state in ("scheduled", "paused"):
            await lifecycle.schedule_series(
                db, request, weekday=2, start_minute=14 * 60, starts_on=NOW.date(), actor_id=v.id, now=NOW
            )
        if state == "paused":
            await lifecycle.pause(db, request, actor_id=coordinator.id, now=NOW)
        assert request.status == state
        with pytest.raises(LifecycleError) as refused:
            await lifecycle.cancel(db, request, actor_id=beneficiary.id, reason="  ", now=NOW)
        assert refused.value.field == "reason"
        outcome = await lifecycle.cancel(
            db, request, actor_id=beneficiary.id, reason="Je vais mieux", now=NOW
        )
        mark(state, "cancelled", "cancel")
        assert request.status == "cancelled" and request.cancel_reason == "Je vais mieux"
        if state in ("matched", "scheduled", "paused"):
            assert ("request_cancelled", v.id) in outcome.notify
        with pytest.raises(LifecycleError):
            await lifecycle.pop(db, request, await volunteer(db))


async def test_recurring_series_pause_resume_and_no_shows(db: AsyncSession) -> None:
    request, beneficiary = await new_request(db, recurring=True)
    v = await volunteer(db)
    await lifecycle.pop(db, request, v)
    outcome = await lifecycle.schedule_series(
        db, request, weekday=1, start_minute=15 * 60, starts_on=NOW.date(), actor_id=v.id, now=NOW
    )
    assert len(outcome.appointments) == 4  # four Tuesdays in the next 28 days
    assert all(
        a.starts_at.astimezone(datetime.UTC).hour == 14 for a in outcome.appointments
    )  # 15:00 in Paris (winter)
    series = await db.scalar(select(AppointmentSeries).where(AppointmentSeries.request_id == request.id))
    assert series is not None
    again = await lifecycle.extend_series(db, series, until=NOW.date() + datetime.timedelta(days=28), now=NOW)
    assert again == []  # idempotent
    coordinator = await person(db, ["coordinator"])
    await lifecycle.pause(db, request, actor_id=beneficiary.id, now=NOW)
    mark("scheduled", "paused", "pause")
    assert {a.status for a in outcome.appointments} == {"cancelled"}
    later = NOW + datetime.timedelta(days=14)
    resumed = await lifecycle.resume(db, request, actor_id=coordinator.id, now=later)
    mark("paused", "scheduled", "resume")
    assert resumed.appointments and min(a.starts_at for a in resumed.appointments) > later
    first, second = sorted(resumed.appointments, key=lambda a: a.starts_at)[:2]
    await lifecycle.complete(db, request, first, actor_id=v.id, no_show=True, now=second.ends_at)
    outcome = await lifecycle.complete(db, request, second, actor_id=v.id, no_show=True, now=second.ends_at)
    assert outcome.tasks and outcome.tasks[0].kind == "call_person"
    assert request.status == "scheduled"  # a recurring request stays scheduled
    await lifecycle.release(
        db, request, action="reassign", actor_id=coordinator.id, reason="Changement", now=later
    )
    mark("scheduled", "open", "reassign")


async def test_paused_and_matched_release(db: AsyncSession) -> None:
    request, _ = await new_request(db, recurring=True)
    v = await volunteer(db)
    await lifecycle.pop(db, request, v)
    await lifecycle.release(db, request, action="withdraw", actor_id=v.id, reason="Plus disponible", now=NOW)
    mark("matched", "open", "withdraw")
    await lifecycle.pop(db, request, v)
    await lifecycle.schedule_series(
        db, request, weekday=3, start_minute=600, starts_on=NOW.date(), actor_id=v.id, now=NOW
    )
    await lifecycle.pause(db, request, actor_id=v.id, now=NOW)
    await lifecycle.release(db, request, action="withdraw", actor_id=v.id, reason="Plus disponible", now=NOW)
    mark("paused", "open", "withdraw")


async def test_relative_needs_a_live_mandate(db: AsyncSession) -> None:
    beneficiary = await person(db, ["beneficiary"])
    relative = await person(db, ["relative"])
    manifest = installed_modules()["walks"]
    details = {"mobility_aid": "cane", "distance": "short"}
    with pytest.raises(LifecycleError) as refused:
        await lifecycle.create_request(
            db,
            manifest=manifest,
            beneficiary=beneficiary,
            actor=relative,
            created_as="relative",
            details=details,
        )
    assert refused.value.field == "beneficiary"
    db.add(
        Mandate(id=uuid.uuid4(), relative_id=relative.id, beneficiary_id=beneficiary.id, consent="written")
    )
    await db.flush()
    outcome = await lifecycle.create_request(
        db, manifest=manifest, beneficiary=beneficiary, actor=relative, created_as="relative", details=details
    )
    assert outcome.request.mandate_id is not None
    assert ("request_created_for_you", beneficiary.id) in outcome.notify
    with pytest.raises(LifecycleError):
        await lifecycle.create_request(
            db,
            manifest=manifest,
            beneficiary=beneficiary,
            actor=relative,
            created_as="beneficiary",
            details=details,
        )


async def test_unvetted_or_unskilled_volunteer_cannot_pop(db: AsyncSession) -> None:
    beneficiary = await person(db, ["beneficiary"])
    manifest = installed_modules()["admin_help"]
    outcome = await lifecycle.create_request(
        db,
        manifest=manifest,
        beneficiary=beneficiary,
        actor=beneficiary,
        created_as="beneficiary",
        details={"administration": "caf", "topic": "APL"},
    )
    request = outcome.request
    for candidate in (
        await volunteer(db, vetting_level=1),
        await volunteer(db, vetting_level=2, skills=[]),
        await volunteer(db, vetting_level=2, vetted_until=datetime.date(2020, 1, 1)),
        await person(db, ["beneficiary"], vetting_level=2, skills=["admin_formalities"]),
    ):
        with pytest.raises(LifecycleError):
            await lifecycle.pop(db, request, candidate)
    assert request.status == "open"


async def test_volunteer_losing_vetting_alerts_the_coordinator(db: AsyncSession) -> None:
    beneficiary = await person(db, ["beneficiary"])
    manifest = installed_modules()["admin_help"]
    request = (
        await lifecycle.create_request(
            db,
            manifest=manifest,
            beneficiary=beneficiary,
            actor=beneficiary,
            created_as="beneficiary",
            details={"administration": "caf", "topic": "APL"},
        )
    ).request
    v = await volunteer(db)
    await lifecycle.pop(db, request, v)
    v.vetting_level = 1
    tasks = await lifecycle.vetting_changed(db, v)
    assert [t.kind for t in tasks] == ["vetting_lost"] and tasks[0].request_id == request.id
    assert await lifecycle.vetting_changed(db, v) == tasks  # once per day, not a new task per call
    await lifecycle.release(db, request, action="vetting_lost", actor_id=None, reason="vetting", now=NOW)
    mark("matched", "open", "vetting_lost")


async def test_two_volunteers_pop_at_the_same_second(engine: AsyncEngine, tenant: TenantRef) -> None:
    factory = async_session_factory(engine)
    async with factory(info={"tenant": tenant}) as setup:
        request, _ = await new_request(setup)
        v1, v2 = await volunteer(setup), await volunteer(setup)
        await setup.commit()
        request_id, ids = request.id, (v1.id, v2.id)

    async def try_pop(volunteer_id: uuid.UUID) -> str:
        async with factory(info={"tenant": tenant}) as session:
            found = await session.get(HelpRequest, request_id)
            who = await session.get(Person, volunteer_id)
            assert found is not None and who is not None
            try:
                await lifecycle.pop(session, found, who)
            except AlreadyTaken as exc:
                await session.rollback()
                return exc.message
            await session.commit()
            return "won"

    results = await asyncio.gather(*(try_pop(v) for v in ids))
    assert sorted(results)[-1] == "won" and results.count("won") == 1
    assert any("Another volunteer has just answered" in r or "Un autre bénévole" in r for r in results)
    async with factory(info={"tenant": tenant}) as check:
        final = await check.get(HelpRequest, request_id)
        assert final is not None and final.status == "matched" and final.volunteer_id in ids
        events = await check.scalar(
            select(func.count())
            .select_from(RequestEvent)
            .where(RequestEvent.request_id == request_id, RequestEvent.to_status == "matched")
        )
        assert events == 1


async def test_release_from_scheduled_and_paused_by_coordinator_or_lost_vetting(db: AsyncSession) -> None:
    coordinator = await person(db, ["coordinator"])
    for state, action in (("scheduled", "vetting_lost"), ("paused", "vetting_lost"), ("paused", "reassign")):
        request, _ = await new_request(db, recurring=True)
        v = await volunteer(db)
        await lifecycle.pop(db, request, v)
        await lifecycle.schedule_series(
            db, request, weekday=4, start_minute=600, starts_on=NOW.date(), actor_id=v.id, now=NOW
        )
        if state == "paused":
            await lifecycle.pause(db, request, actor_id=coordinator.id, now=NOW)
        actor = coordinator.id if action == "reassign" else None
        outcome = await lifecycle.release(db, request, action=action, actor_id=actor, reason=action, now=NOW)
        mark(state, "open", action)
        assert request.status == "open" and request.volunteer_id is None
        assert ("request_released", v.id) in outcome.notify


def test_every_transition_of_the_table_was_exercised() -> None:
    """Last: each (from, to, action) entry of TRANSITIONS was made by a test above."""
    expected = {(a, b, action) for (a, b), actions in TRANSITIONS.items() for action in actions}
    assert expected - TESTED == set()
