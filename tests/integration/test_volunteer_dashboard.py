"""What the volunteer's dashboard lists, list by list (issue 13 reads it in three statements).

A volunteer (vetted to level 1, the reading skill only, 5 km around Compiègne) on a commune of their
own, with one request or appointment for each rule the page applies."""

from __future__ import annotations

import contextlib
import datetime
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update

from bippop.accounts.models import Person
from bippop.aid.models import Appointment, AvailabilityWindow, HelpRequest, RequestOffer, VisitReport
from bippop.aid.services import dashboard
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, host, log_in, make_person, make_tenant

HERE = (49.4179, 2.8261)
FAR = (49.9, 2.3)  # about 65 km away
NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def web(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}) as client:
        yield client


@pytest.fixture
def commune(settings: Settings) -> TenantRef:
    return make_tenant(settings, f"tableau-{uuid.uuid4().hex[:6]}", "Tableauville")


def _section(page: str, title_id: str) -> str:
    match = re.search(rf'<section aria-labelledby="{title_id}">(.*?)</section>', page, re.S)
    assert match, title_id
    return match.group(1)


def _request_links(html: str) -> list[str]:
    return re.findall(r'href="/benevole/demandes/([0-9a-f-]{36})"', html)


class Seed:
    def __init__(self, resources: PlatformResources, tenant: TenantRef) -> None:
        self.resources, self.tenant = resources, tenant
        self.volunteer_id, self.email, _ = make_person(resources, tenant, ["volunteer"], name="Julie Vidal")
        self.other_id, _, _ = make_person(resources, tenant, ["volunteer"], name="Paul Autre")
        self.beneficiary_id, _, _ = make_person(resources, tenant, ["beneficiary"], name="Rose Ancienne")
        with self.session() as session:
            session.execute(
                update(Person)
                .where(Person.id == self.volunteer_id)
                .values(
                    vetting_level=1,
                    skills=["reading_aloud"],
                    latitude=HERE[0],
                    longitude=HERE[1],
                    max_distance_km=5,
                )
            )
            for weekday, start in ((2, 14 * 60), (0, 9 * 60)):
                session.add(
                    AvailabilityWindow(
                        person_id=self.volunteer_id,
                        weekday=weekday,
                        start_minute=start,
                        end_minute=start + 120,
                    )
                )

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        with self.resources.sessions()(info={"tenant": self.tenant}) as session, session.begin():
            yield session

    def request(
        self, module: str = "reading", status: str = "open", where: tuple[float, float] = HERE, **values: Any
    ) -> uuid.UUID:
        with self.session() as session:
            made = HelpRequest(
                id=uuid.uuid4(),
                module=module,
                beneficiary_id=self.beneficiary_id,
                created_by=self.beneficiary_id,
                created_as="beneficiary",
                status=status,
                details=values.pop("details", {"where": "home"}),
                latitude=where[0],
                longitude=where[1],
                **values,
            )
            session.add(made)
        return made.id

    def offer(self, request_id: uuid.UUID, *, declined: bool = False) -> None:
        with self.session() as session:
            session.add(
                RequestOffer(
                    request_id=request_id,
                    volunteer_id=self.volunteer_id,
                    declined_at=NOW if declined else None,
                )
            )

    def appointment(
        self,
        request_id: uuid.UUID,
        starts_in_hours: float,
        *,
        status: str = "scheduled",
        reported: bool = False,
    ) -> uuid.UUID:
        starts = NOW + datetime.timedelta(hours=starts_in_hours)
        with self.session() as session:
            made = Appointment(
                id=uuid.uuid4(),
                request_id=request_id,
                volunteer_id=self.volunteer_id,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=1),
                status=status,
            )
            session.add(made)
            session.flush()
            if reported:
                session.add(VisitReport(appointment_id=made.id, author_id=self.volunteer_id, mood="good"))
        return made.id


def test_the_dashboard_lists_what_the_volunteer_may_take_and_what_they_do(
    web: TestClient[Litestar], resources: PlatformResources, commune: TenantRef
) -> None:
    seed = Seed(resources, commune)
    near = seed.request()
    far = seed.request(where=FAR)
    offered_far = seed.request(status="offered", where=FAR)
    seed.offer(offered_far)
    declined = seed.request(status="offered")
    seed.offer(declined, declined=True)
    lacking_skill = seed.request(module="walks")  # walking_companion: a skill the volunteer lacks
    needs_more_vetting = seed.request(module="admin_help")  # vetting level 2
    someone_elses = seed.request(status="matched", volunteer_id=seed.other_id)
    mine = seed.request(status="scheduled", volunteer_id=seed.volunteer_id)
    mine_closed = seed.request(status="closed", volunteer_id=seed.volunteer_id)
    coming = seed.appointment(mine, 48)
    past_unreported = seed.appointment(mine, -48, status="done")
    past_reported = seed.appointment(mine, -72, status="done", reported=True)
    cancelled = seed.appointment(mine, 24, status="cancelled")

    log_in(web, commune.slug, seed.email)
    page = web.get("/benevole/", headers=host(commune.slug))
    assert page.status_code == 200, page.text

    near_section = _section(page.text, "near-title")
    assert _request_links(near_section) == [str(offered_far), str(near)]  # offered first, however far
    assert near_section.count("proposed to you") == 1
    assert near_section.count('class="module-card"') == 2  # each request's card, by its module
    assert "At home" in near_section  # the reading card's « where »
    for hidden in (far, declined, lacking_skill, needs_more_vetting, someone_elses, mine, mine_closed):
        assert str(hidden) not in near_section

    appointments = _section(page.text, "appointments-title")
    assert _request_links(appointments) == [
        str(mine),
        str(mine),
    ]  # the appointment to come, the person helped
    assert str(mine_closed) not in appointments

    reports = _section(page.text, "reports-title")
    assert f"/benevole/rendez-vous/{past_unreported}/compte-rendu" in reports
    for other in (past_reported, coming, cancelled):
        assert str(other) not in reports

    availability = _section(page.text, "availability-title")
    monday, wednesday = availability.find("Monday"), availability.find("Wednesday")
    assert 0 <= monday < wednesday  # in the week's order


def test_a_card_escapes_what_the_person_wrote(
    web: TestClient[Litestar], resources: PlatformResources, commune: TenantRef
) -> None:
    seed = Seed(resources, commune)
    seed.request(module="visits", details={"frequency": "once", "interests": "<script>alert(1)</script>"})
    log_in(web, commune.slug, seed.email)
    near = _section(web.get("/benevole/", headers=host(commune.slug)).text, "near-title")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in near and "<script>alert" not in near


def test_the_candidates_are_the_newest_and_the_people_helped_are_not_cut_by_them(
    web: TestClient[Litestar],
    resources: PlatformResources,
    commune: TenantRef,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed = Seed(resources, commune)
    monkeypatch.setattr(dashboard, "CANDIDATES", 2)
    oldest = seed.request(created_at=NOW - datetime.timedelta(days=3))
    newer = [seed.request(created_at=NOW - datetime.timedelta(days=d)) for d in (2, 1)]
    helped = seed.request(status="matched", volunteer_id=seed.volunteer_id)

    log_in(web, commune.slug, seed.email)
    page = web.get("/benevole/", headers=host(commune.slug)).text
    near = _request_links(_section(page, "near-title"))
    assert str(oldest) not in near and {str(n) for n in newer} <= set(near)
    assert str(helped) in _request_links(_section(page, "appointments-title"))
