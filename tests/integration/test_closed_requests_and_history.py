"""Two defects seen from the pages: a request that closes takes its future visits off the volunteer's list
and calendar feed, and setting the same visit twice leaves one visit and one line of history."""

from __future__ import annotations

import asyncio
import datetime
import html
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import icalendar
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.models import Person
from bippop.aid import lifecycle
from bippop.aid.calendar import token_hash
from bippop.aid.models import Appointment, AppointmentSeries, HelpRequest, RequestEvent
from bippop.app import create_app
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.modules.registry import installed_modules
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, csrf_token, host, log_in, make_person, make_tenant

SLUG = "endings"
T = TypeVar("T")
Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    return make_tenant(settings, SLUG, "Finville")


@pytest.fixture
def web(settings: Settings) -> Iterator[Client]:
    with TestClient(
        create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}
    ) as c:
        yield c


def in_tenant(settings: Settings, tenant: TenantRef, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
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


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def page(web: Client, path: str) -> str:
    response = web.get(path, headers={**host(SLUG), "Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 200, (path, response.status_code)
    return str(response.text)


def post(web: Client, path: str, data: dict[str, Any]) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, SLUG)
    return web.post(
        path,
        data={**data, "_csrf_token": token},
        headers={**host(SLUG), "Accept": "text/html"},
        follow_redirects=False,
    )


# A request that closes ------------------------------------------------------------------------------


def test_a_closed_request_takes_its_future_visits_off_the_volunteers_list_and_calendar(
    settings: Settings, resources: PlatformResources, town: TenantRef, web: Client
) -> None:
    volunteer_id, email, _secret = make_person(resources, town, ["volunteer"], name="Paul Durand")
    feed_token = "f" * 10 + uuid.uuid4().hex
    now = clock.now()

    async def setup(db: AsyncSession) -> list[uuid.UUID]:
        helper = await db.get(Person, volunteer_id)
        assert helper is not None
        helper.vetting_level, helper.calendar_token_hash = 1, token_hash(feed_token)
        closing = []
        for _request in range(2):
            beneficiary = Person(id=uuid.uuid4(), display_name="Jeanne Martin", roles=["beneficiary"])
            db.add(beneficiary)
            await db.flush()
            request = (
                await lifecycle.create_request(
                    db,
                    manifest=installed_modules()["visits"],
                    beneficiary=beneficiary,
                    actor=beneficiary,
                    created_as="beneficiary",
                    details={"frequency": "once"},
                )
            ).request
            await lifecycle.pop(db, request, helper)
            first = await lifecycle.schedule(
                db, request, now + datetime.timedelta(hours=1), actor_id=volunteer_id
            )
            # A second visit, ten days on: still to come when the first one ends the help.
            await lifecycle.schedule(db, request, now + datetime.timedelta(days=10), actor_id=volunteer_id)
            await lifecycle.complete(
                db,
                request,
                first.appointments[0],
                actor_id=volunteer_id,
                now=now + datetime.timedelta(hours=2),
            )
            closing.append(request.id)
        return closing

    by_coordinator, by_feedback = in_tenant(settings, town, setup)
    log_in(web, SLUG, email)
    feed = f"/agenda/{feed_token}.ics"

    def upcoming() -> tuple[list[str], list[str]]:
        section = page(web, "/benevole").split("My appointments")[1]
        section = section.split("The people I help")[0].split("Visits to report")[0]
        listed = re.findall(r'href="/benevole/demandes/([0-9a-f-]{36})"', section)
        response = web.get(feed, headers=host(SLUG))
        assert response.status_code == 200
        events = [
            str(e["url"]).rsplit("/", 1)[1]
            for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")
        ]
        return listed, events

    listed, events = upcoming()
    assert {str(by_coordinator), str(by_feedback)} <= set(listed) and sorted(events) == sorted(
        [str(by_coordinator), str(by_feedback)]
    )

    async def close_both(db: AsyncSession) -> None:
        coordinator = Person(id=uuid.uuid4(), display_name="Coline", roles=["coordinator"])
        db.add(coordinator)
        await db.flush()
        first = await db.get(HelpRequest, by_coordinator)
        second = await db.get(HelpRequest, by_feedback)
        assert first is not None and second is not None
        await lifecycle.close(db, first, coordinator_id=coordinator.id)
        await lifecycle.give_feedback(db, second, author_id=second.beneficiary_id, rating=5, comment="Merci")

    in_tenant(settings, town, close_both)
    listed, events = upcoming()
    assert str(by_coordinator) not in listed and str(by_feedback) not in listed
    assert events == []
    assert "No appointment planned." in text_of(page(web, "/benevole"))

    async def left(db: AsyncSession) -> list[str]:
        return list(
            await db.scalars(
                select(Appointment.status)
                .where(Appointment.request_id.in_([by_coordinator, by_feedback]))
                .order_by(Appointment.starts_at)
            )
        )

    assert sorted(in_tenant(settings, town, left)) == ["cancelled", "cancelled", "done", "done"]


# The same visit set twice ---------------------------------------------------------------------------


def test_setting_the_same_visit_twice_records_it_once(
    settings: Settings, resources: PlatformResources, town: TenantRef, web: Client
) -> None:
    _me, email, secret = make_person(resources, town, ["coordinator"], totp=True, name="Coline Coordinator")
    log_in(web, SLUG, email, secret)
    tag = uuid.uuid4().hex[:6]

    async def setup(db: AsyncSession) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
        helper = Person(
            id=uuid.uuid4(),
            display_name=f"Faithful {tag}",
            roles=["volunteer"],
            vetting_level=1,
            email=f"faithful-{tag}@example.org",
            locale="en",
        )
        db.add(helper)
        ids = []
        for recurring in (False, True):
            beneficiary = Person(
                id=uuid.uuid4(), display_name=f"Lucienne {tag}", roles=["beneficiary"], locale="en"
            )
            db.add(beneficiary)
            await db.flush()
            request = (
                await lifecycle.create_request(
                    db,
                    manifest=installed_modules()["visits"],
                    beneficiary=beneficiary,
                    actor=beneficiary,
                    created_as="beneficiary",
                    details={"frequency": "weekly" if recurring else "once"},
                    recurring=recurring,
                )
            ).request
            await lifecycle.pop(db, request, helper)
            ids.append(request.id)
        return ids[0], ids[1], helper.id, beneficiary.id

    once, weekly, helper_id, _beneficiary = in_tenant(settings, town, setup)
    day = clock.today() + datetime.timedelta(days=10)
    visit = {"date": day.strftime("%d/%m/%Y"), "time": "14:30"}
    for _click in range(2):  # a double click, or the form sent again from the browser's history
        response = post(web, f"/coordination/demandes/{once}/planifier", visit)
        assert response.status_code == 303, response.text
    series = {
        "series_weekday": str(day.weekday()),
        "series_time": "10:00",
        "series_interval": "1",
        "series_from": day.strftime("%d/%m/%Y"),
    }
    for _click in range(2):
        assert post(web, f"/coordination/demandes/{weekly}/planifier-serie", series).status_code == 303

    async def state(db: AsyncSession) -> dict[str, Any]:
        async def count(model: Any, *where: Any) -> int:
            return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        return {
            "visits": await count(Appointment, Appointment.request_id == once),
            "series": await count(AppointmentSeries, AppointmentSeries.request_id == weekly),
            "weekly visits": await count(Appointment, Appointment.request_id == weekly),
            "same to same": await count(
                RequestEvent,
                RequestEvent.request_id.in_([once, weekly]),
                RequestEvent.from_status == "scheduled",
                RequestEvent.to_status == "scheduled",
            ),
            "told": await count(
                OutboxMessage,
                OutboxMessage.person_id == helper_id,
                OutboxMessage.purpose == "appointment_scheduled",
            ),
        }

    found = in_tenant(settings, town, state)
    assert found["visits"] == 1 and found["series"] == 1 and found["weekly visits"] == 3  # days 10, 17, 24
    assert found["same to same"] == 0 and found["told"] == 2  # once per request
    for request_id in (once, weekly):
        history = text_of(page(web, f"/coordination/demandes/{request_id}"))
        assert "Volunteer found → Appointment set" in history
        assert "Appointment set → Appointment set" not in history
    # A real extra visit is still recorded, and told.
    extra = {"date": day.strftime("%d/%m/%Y"), "time": "16:00"}
    assert post(web, f"/coordination/demandes/{once}/planifier", extra).status_code == 303
    found = in_tenant(settings, town, state)
    assert found["visits"] == 2 and found["same to same"] == 1 and found["told"] == 3
