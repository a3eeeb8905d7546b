"""Volunteer matching (aid/matching.py): every eligibility filter, the order by each criterion, the
reasons in English and French, the commune-centroid fallback, and no volunteer of another tenant.

Other tests commit people into the same tenant, so each test works around a place of its own (drawn
at random far from Compiègne) and only looks at the volunteers it created.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import random
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bippop.accounts.models import Person
from bippop.aid import matching
from bippop.aid.matching import KM_PER_DEGREE, RankedVolunteer, rank
from bippop.aid.models import Appointment, AvailabilityWindow, HelpRequest, RequestOffer
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.tenants.context import TenantRef
from bippop.web.i18n import _, current_locale, ngettext

TODAY = datetime.date(2027, 3, 2)  # a Tuesday
UTC = datetime.UTC


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


@pytest.fixture
def here() -> tuple[float, float]:
    """A place of this test's own (somewhere in France, away from the other tests' people)."""
    rng = random.Random()
    return rng.uniform(43.5, 47.5), rng.uniform(-0.5, 5.5)


@contextlib.contextmanager
def locale(code: str) -> Iterator[None]:
    token = current_locale.set(code)
    try:
        yield
    finally:
        current_locale.reset(token)


def north(place: tuple[float, float], km: float) -> tuple[float, float]:
    return place[0] + km / KM_PER_DEGREE, place[1]


async def person(db: AsyncSession, roles: list[str], **values: Any) -> Person:
    found = Person(
        id=uuid.uuid4(),
        display_name=values.pop("display_name", f"P {uuid.uuid4().hex[:6]}"),
        email=f"{uuid.uuid4().hex[:10]}@example.org",
        roles=roles,
        **values,
    )
    db.add(found)
    await db.flush()
    return found


async def volunteer(db: AsyncSession, place: tuple[float, float] | None, **values: Any) -> Person:
    defaults: dict[str, Any] = {
        "vetting_level": 2,
        "skills": ["reading_aloud", "digital_help", "errands", "admin_formalities"],
        "languages": ["fr"],
        "max_distance_km": 5,
    }
    if place is not None:
        defaults["latitude"], defaults["longitude"] = place
    defaults.update(values)
    return await person(db, ["volunteer"], **defaults)


async def new_request(
    db: AsyncSession,
    place: tuple[float, float] | None,
    module: str = "visits",
    *,
    details: dict[str, Any] | None = None,
    windows: Sequence[dict[str, int]] = (),
    beneficiary: Person | None = None,
    **values: Any,
) -> HelpRequest:
    if beneficiary is None:
        located = {"latitude": place[0], "longitude": place[1]} if place else {}
        beneficiary = await person(db, ["beneficiary"], display_name="Mrs D.", **located, **values)
    request = HelpRequest(
        id=uuid.uuid4(),
        module=module,
        beneficiary_id=beneficiary.id,
        created_by=beneficiary.id,
        created_as="beneficiary",
        status="open",
        details=details if details is not None else {"frequency": "once"},
        preferred_windows=list(windows),
        latitude=beneficiary.latitude,
        longitude=beneficiary.longitude,
    )
    db.add(request)
    await db.flush()
    return request


async def appointments(
    db: AsyncSession, volunteer: Person, count: int, *, beneficiary: Person | None = None, **values: Any
) -> None:
    """``count`` appointments of ``volunteer`` (by default done, long ago, with a stranger)."""
    if beneficiary is None:
        beneficiary = await person(db, ["beneficiary"])
    request = HelpRequest(
        id=uuid.uuid4(),
        module="visits",
        beneficiary_id=beneficiary.id,
        created_as="coordinator",
        status="scheduled",
        volunteer_id=volunteer.id,
    )
    db.add(request)
    await db.flush()
    first = values.pop("starts_at", datetime.datetime(2026, 6, 1, 14, tzinfo=UTC))
    status = values.pop("status", "done")
    for index in range(count):
        starts = first + datetime.timedelta(days=index)
        db.add(
            Appointment(
                id=uuid.uuid4(),
                request_id=request.id,
                volunteer_id=volunteer.id,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=1),
                status=status,
            )
        )
    await db.flush()


async def window(db: AsyncSession, who: Person, weekday: int, start: int, end: int) -> None:
    db.add(
        AvailabilityWindow(
            id=uuid.uuid4(), person_id=who.id, weekday=weekday, start_minute=start, end_minute=end
        )
    )
    await db.flush()


async def ranked(
    db: AsyncSession, request: HelpRequest, among: Sequence[Person], **kwargs: Any
) -> list[RankedVolunteer]:
    """The ranking, restricted to the volunteers this test made (in their ranked order)."""
    ours = {p.id for p in among}
    kwargs.setdefault("today", TODAY)
    return [r for r in await rank(db, request, limit=10_000, **kwargs) if r.volunteer_id in ours]


async def ids(
    db: AsyncSession, request: HelpRequest, among: Sequence[Person], **kwargs: Any
) -> list[uuid.UUID]:
    return [r.volunteer_id for r in await ranked(db, request, among, **kwargs)]


# Eligibility ---------------------------------------------------------------------------------


async def test_only_volunteers_with_an_active_account(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    kept = await volunteer(db, here)
    coordinator = await person(db, ["coordinator"], latitude=here[0], longitude=here[1], vetting_level=2)
    disabled = await volunteer(db, here, disabled_at=datetime.datetime(2027, 1, 1, tzinfo=UTC))
    assert await ids(db, request, [kept, coordinator, disabled]) == [kept.id]


async def test_vetting_level_that_counts_on_the_day(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)  # visits: level 1
    unvetted = await volunteer(db, here, vetting_level=0)
    checked = await volunteer(db, here, vetting_level=1)
    expired = await volunteer(db, here, vetting_level=2, vetted_until=TODAY - datetime.timedelta(days=1))
    last_day = await volunteer(db, here, vetting_level=2, vetted_until=TODAY)
    people = [unvetted, checked, expired, last_day]
    assert set(await ids(db, request, people)) == {checked.id, last_day.id}
    later = TODAY + datetime.timedelta(days=1)
    assert set(await ids(db, request, people, today=later)) == {checked.id}

    admin = await new_request(db, here, "admin_help", details={})  # level 2
    assert set(await ids(db, admin, people)) == {last_day.id}


async def test_every_skill_of_the_module(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here, "reading", details={"where": "home"})
    reader = await volunteer(db, here, skills=["reading_aloud"])
    more = await volunteer(db, here, skills=["errands", "reading_aloud"])
    other = await volunteer(db, here, skills=["errands"])
    none = await volunteer(db, here, skills=[])
    assert set(await ids(db, request, [reader, more, other, none])) == {reader.id, more.id}
    visit = await new_request(db, here)  # visits need no skill
    assert len(await ids(db, visit, [reader, more, other, none])) == 4


async def test_within_each_volunteers_own_distance(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    close_enough = await volunteer(db, north(here, 3), max_distance_km=5)
    too_far_for_them = await volunteer(db, north(here, 3), max_distance_km=2)
    far_but_willing = await volunteer(db, north(here, 8), max_distance_km=10)
    too_far = await volunteer(db, north(here, 12), max_distance_km=10)
    nowhere = await volunteer(db, None)
    people = [close_enough, too_far_for_them, far_but_willing, too_far, nowhere]
    result = await ranked(db, request, people)
    assert [r.volunteer_id for r in result] == [close_enough.id, far_but_willing.id]
    assert result[0].distance_km == pytest.approx(3, abs=0.01)


async def test_distances_agree_with_the_great_circle_at_the_edge(
    db: AsyncSession, here: tuple[float, float]
) -> None:
    """In every direction, just inside the volunteer's circle is in, just outside is out, and the
    distance shown is the great-circle one."""
    request = await new_request(db, here)
    rng = random.Random(7)
    inside, outside = [], []
    for step in range(12):
        bearing = math.radians(step * 30 + rng.uniform(0, 10))
        for km, bucket in ((4.95, inside), (5.05, outside)):
            lat = here[0] + km * math.cos(bearing) / KM_PER_DEGREE
            lon = here[1] + km * math.sin(bearing) / (KM_PER_DEGREE * math.cos(math.radians(here[0])))
            bucket.append(await volunteer(db, (lat, lon), max_distance_km=5))
    result = await ranked(db, request, inside + outside)
    assert {r.volunteer_id for r in result} == {p.id for p in inside}
    by_id = {p.id: p for p in inside}
    for found in result:
        who = by_id[found.volunteer_id]
        assert who.latitude is not None and who.longitude is not None
        exact = matching.distance_km(here[0], here[1], who.latitude, who.longitude)
        assert found.distance_km == pytest.approx(exact, abs=0.01)


async def test_remote_requests_ignore_distance_when_the_module_allows_it(
    db: AsyncSession, here: tuple[float, float]
) -> None:
    near = await volunteer(db, north(here, 1))
    far = await volunteer(db, north(here, 150))
    nowhere = await volunteer(db, None)
    people = [near, far, nowhere]
    by_phone = await new_request(db, here, "reading", details={"where": "phone"})
    assert set(await ids(db, by_phone, people)) == {near.id, far.id, nowhere.id}
    remote_help = await new_request(db, here, "it_help", details={"where": "remote"})
    assert set(await ids(db, remote_help, people)) == {near.id, far.id, nowhere.id}
    at_home = await new_request(db, here, "reading", details={"where": "home"})
    assert await ids(db, at_home, people) == [near.id]
    not_remote_module = await new_request(db, here, "errands", details={"where": "remote"})
    assert await ids(db, not_remote_module, people) == [near.id]


async def test_volunteers_who_declined_are_left_out(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    declined, offered, fresh = [await volunteer(db, here) for _ in range(3)]
    other = await new_request(db, here)
    db.add_all(
        [
            RequestOffer(
                id=uuid.uuid4(),
                request_id=request.id,
                volunteer_id=declined.id,
                declined_at=datetime.datetime(2027, 3, 1, tzinfo=UTC),
            ),
            RequestOffer(id=uuid.uuid4(), request_id=request.id, volunteer_id=offered.id),
            # Declining another request does not count against this one.
            RequestOffer(
                id=uuid.uuid4(),
                request_id=other.id,
                volunteer_id=fresh.id,
                declined_at=datetime.datetime(2027, 3, 1, tzinfo=UTC),
            ),
        ]
    )
    await db.flush()
    assert set(await ids(db, request, [declined, offered, fresh])) == {offered.id, fresh.id}


async def test_the_beneficiary_is_not_ranked_for_their_own_request(
    db: AsyncSession, here: tuple[float, float]
) -> None:
    both = await person(
        db, ["beneficiary", "volunteer"], latitude=here[0], longitude=here[1], vetting_level=2
    )
    request = await new_request(db, here, beneficiary=both)
    other = await volunteer(db, here)
    assert await ids(db, request, [both, other]) == [other.id]


# Order ---------------------------------------------------------------------------------------


async def test_nearer_first(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    far, near, middle = [await volunteer(db, north(here, km)) for km in (4, 0.5, 2)]
    result = await ranked(db, request, [far, near, middle])
    assert [r.volunteer_id for r in result] == [near.id, middle.id, far.id]
    assert result[0].score > result[1].score > result[2].score


async def test_available_in_the_wanted_windows_first(db: AsyncSession, here: tuple[float, float]) -> None:
    tuesday_afternoon = {"weekday": 1, "start_minute": 14 * 60, "end_minute": 17 * 60}
    request = await new_request(db, here, windows=[tuesday_afternoon])
    partly, fully, other_day, never = [await volunteer(db, here) for _ in range(4)]
    await window(db, fully, 1, 13 * 60, 18 * 60)
    await window(db, partly, 1, 16 * 60, 20 * 60)
    await window(db, other_day, 3, 14 * 60, 17 * 60)
    result = await ranked(db, request, [partly, fully, other_day, never])
    assert [r.volunteer_id for r in result[:2]] == [fully.id, partly.id]
    assert [r.available_minutes for r in result] == [180, 60, 0, 0]


async def test_shared_language_first(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here, languages=["fr", "pt"])
    french_only = await volunteer(db, here)
    portuguese = await volunteer(db, here, languages=["fr", "pt"])
    english = await volunteer(db, here, languages=["fr", "en"])
    result = await ranked(db, request, [french_only, portuguese, english])
    assert result[0].volunteer_id == portuguese.id
    assert result[0].shared_languages == ("pt",)
    assert result[1].score == result[2].score


async def test_continuity_first(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    beneficiary = await db.get(Person, request.beneficiary_id)
    newcomer, regular, once = [await volunteer(db, here) for _ in range(3)]
    await appointments(db, regular, 6, beneficiary=beneficiary)
    await appointments(db, once, 1, beneficiary=beneficiary)
    await appointments(db, newcomer, 1, beneficiary=beneficiary, status="cancelled")
    await appointments(db, newcomer, 8)  # done, but with someone else
    result = await ranked(db, request, [newcomer, regular, once])
    assert [r.volunteer_id for r in result] == [regular.id, once.id, newcomer.id]
    assert [r.past_visits for r in result] == [6, 1, 0]


async def test_lighter_load_first(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    busy, idle, some = [await volunteer(db, here) for _ in range(3)]
    this_month = datetime.datetime(2027, 2, 10, 10, tzinfo=UTC)
    await appointments(db, busy, 6, starts_at=this_month)
    await appointments(db, some, 2, starts_at=this_month, status="scheduled")
    await appointments(db, some, 3, starts_at=this_month, status="cancelled")  # not load
    await appointments(
        db, idle, 9, starts_at=datetime.datetime(2026, 12, 1, tzinfo=UTC)
    )  # before the 30 days
    result = await ranked(db, request, [busy, idle, some])
    assert [r.volunteer_id for r in result] == [idle.id, some.id, busy.id]
    assert [r.recent_visits for r in result] == [0, 2, 6]


async def test_limit_and_scores(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    people = [await volunteer(db, north(here, km / 2)) for km in range(8)]
    top = await rank(db, request, limit=3, today=TODAY)
    assert [r.volunteer_id for r in top] == [p.id for p in people[:3]]
    assert all(0 <= r.score <= 100 for r in top)


# Reasons -------------------------------------------------------------------------------------


async def _everything(db: AsyncSession, here: tuple[float, float]) -> tuple[HelpRequest, Person]:
    request = await new_request(
        db,
        here,
        windows=[{"weekday": 1, "start_minute": 14 * 60, "end_minute": 17 * 60}],
        languages=["fr", "pt"],
    )
    beneficiary = await db.get(Person, request.beneficiary_id)
    helper = await volunteer(db, north(here, 2.1), languages=["fr", "pt", "es"])
    await window(db, helper, 1, 13 * 60, 18 * 60)
    await appointments(db, helper, 6, beneficiary=beneficiary)
    await appointments(db, helper, 3, starts_at=datetime.datetime(2027, 2, 20, 10, tzinfo=UTC))
    return request, helper


async def test_reasons_in_english(db: AsyncSession, here: tuple[float, float]) -> None:
    request, helper = await _everything(db, here)
    with locale("en"):
        (result,) = await ranked(db, request, [helper])
    assert result.reasons == (
        "2.1 km",
        "free Tuesday afternoons",
        "speaks Portuguese",
        "already visited Mrs D. 6 times",
        "3 visits this month",
    )


async def test_reasons_in_french(db: AsyncSession, here: tuple[float, float]) -> None:
    request, helper = await _everything(db, here)
    with locale("fr"):
        (result,) = await ranked(db, request, [helper])
        # Until the catalogue has them, the sentences fall back to English; the figures, day and
        # language names are French already.
        expected = (
            "2,1 km",
            _("free %(weekday)s afternoons") % {"weekday": "mardi"},
            _("speaks %(languages)s") % {"languages": "portugais"},
            ngettext("already visited %(name)s once", "already visited %(name)s %(count)d times", 6)
            % {"name": "Mrs D.", "count": 6},
            ngettext("%(count)d visit this month", "%(count)d visits this month", 3) % {"count": 3},
        )
    assert result.reasons == expected
    assert "mardi" in result.reasons[1] and "portugais" in result.reasons[2]


async def test_reasons_singular_and_nothing_yet(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(db, here)
    beneficiary = await db.get(Person, request.beneficiary_id)
    once = await volunteer(db, here)
    await appointments(
        db, once, 1, beneficiary=beneficiary, starts_at=datetime.datetime(2027, 2, 27, tzinfo=UTC)
    )
    fresh = await volunteer(db, north(here, 1.26))
    with locale("en"):
        result = {r.volunteer_id: r for r in await ranked(db, request, [once, fresh])}
    assert result[once.id].reasons == ("0.0 km", "already visited Mrs D. once", "1 visit this month")
    assert result[fresh.id].reasons == ("1.3 km", "no visits this month")


async def test_evening_and_morning_windows(db: AsyncSession, here: tuple[float, float]) -> None:
    request = await new_request(
        db,
        here,
        windows=[
            {"weekday": 0, "start_minute": 8 * 60, "end_minute": 11 * 60},
            {"weekday": 4, "start_minute": 18 * 60, "end_minute": 21 * 60},
        ],
    )
    early, late = await volunteer(db, here), await volunteer(db, here)
    await window(db, early, 0, 9 * 60, 12 * 60)
    await window(db, late, 4, 17 * 60, 22 * 60)
    with locale("en"):
        result = {r.volunteer_id: r for r in await ranked(db, request, [early, late])}
    assert "free Monday mornings" in result[early.id].reasons
    assert "free Friday evenings" in result[late.id].reasons


# Places --------------------------------------------------------------------------------------


def test_commune_centroids_are_shipped() -> None:
    compiegne = matching.commune_centroid("60159")
    assert compiegne is not None
    assert compiegne == pytest.approx((49.40, 2.85), abs=0.03)
    assert matching.commune_centroid("75056") == pytest.approx((48.857, 2.343), abs=0.01)
    assert matching.commune_centroid("2a004") == matching.commune_centroid("2A004") is not None
    assert matching.commune_centroid("00000") is None
    assert matching.commune_centroid(None) is None


async def test_volunteer_without_coordinates_is_placed_at_their_commune(db: AsyncSession) -> None:
    centre = matching.commune_centroid("60159")
    assert centre is not None
    here = north(centre, 2.1)
    request = await new_request(db, here)
    by_commune = await volunteer(db, None, commune_code="60159", max_distance_km=5)
    too_far = await volunteer(db, None, commune_code="60159", max_distance_km=1)
    unknown = await volunteer(db, None, commune_code="00000", max_distance_km=50)
    with locale("en"):
        result = await ranked(db, request, [by_commune, too_far, unknown])
    assert [r.volunteer_id for r in result] == [by_commune.id]
    assert result[0].location_precision == "commune"
    assert result[0].distance_km == pytest.approx(2.1, abs=0.01)
    assert result[0].reasons[0] == "about 2.1 km"
    with locale("fr"):
        (again,) = await ranked(db, request, [by_commune])
        assert again.reasons[0] == _("about %(distance)s km") % {"distance": "2,1"}


async def test_request_without_coordinates_is_placed_at_the_beneficiarys_commune(db: AsyncSession) -> None:
    centre = matching.commune_centroid("60159")
    assert centre is not None
    request = await new_request(db, None, commune_code="60159")
    assert request.latitude is None
    near = await volunteer(db, north(centre, 1))
    far = await volunteer(db, north(centre, 9))
    result = await ranked(db, request, [near, far])
    assert [r.volunteer_id for r in result] == [near.id]
    assert result[0].location_precision == "commune"
    assert result[0].distance_km == pytest.approx(1, abs=0.01)


async def test_request_with_no_place_at_all_filters_no_one_on_distance(
    db: AsyncSession, here: tuple[float, float]
) -> None:
    request = await new_request(db, None)
    a, b = await volunteer(db, here), await volunteer(db, None)
    result = await ranked(db, request, [a, b])
    assert {r.volunteer_id for r in result} == {a.id, b.id}
    assert all(r.distance_km is None for r in result)


def test_place_at_commune_centre() -> None:
    someone = Person(display_name="X", commune_code="60159")
    assert matching.place_at_commune_centre(someone)
    assert (someone.latitude, someone.longitude) == matching.commune_centroid("60159")
    assert someone.location_precision == "commune"
    assert not matching.place_at_commune_centre(someone)  # already placed
    assert not matching.place_at_commune_centre(Person(display_name="Y", commune_code="00000"))


# Tenants -------------------------------------------------------------------------------------


async def test_volunteers_of_another_tenant_are_never_ranked(
    engine: AsyncEngine,
    db: AsyncSession,
    tenant: TenantRef,
    other_tenant: TenantRef,
    here: tuple[float, float],
) -> None:
    factory = async_session_factory(engine)
    theirs: list[uuid.UUID] = []
    async with factory(info={"tenant": other_tenant}) as beta:
        for km in (0, 0.5, 1):
            found = await volunteer(beta, north(here, km), max_distance_km=50)
            theirs.append(found.id)
        await beta.commit()
    try:
        request = await new_request(db, here)
        reading = await new_request(db, here, "reading", details={"where": "phone"})  # no distance filter
        ours = await volunteer(db, north(here, 2))
        for each in (request, reading):
            result = await rank(db, each, limit=10_000, today=TODAY)
            found = {r.volunteer_id for r in result}
            assert ours.id in found
            assert not found & set(theirs)
    finally:
        async with factory(info={"tenant": other_tenant}) as beta:
            await beta.execute(delete(Person).where(Person.id.in_(theirs)))
            await beta.commit()
