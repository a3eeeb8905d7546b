"""Issue 12, item 1: the nightly usage counts. Each tenant's job counts its own schema only (a tenant's
figures never include another's, with real rows in both), months are Paris months (a request made at
00:30 on the 1st in Paris belongs to that month, though it is still the previous day in UTC), the
previous month is counted again in the first days of a month, and a second run replaces the figures
instead of adding a row."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from bippop import clock
from bippop.accounts.models import Person
from bippop.aid.models import Appointment, HelpRequest
from bippop.config import Settings
from bippop.coop import jobs as coop_jobs
from bippop.coop.models import TenantUsage
from bippop.coop.usage import month_bounds, months_to_count
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import NoTenant, TenantRef, current_tenant, tenant_scope
from support import HandClock, make_tenant

UTC = datetime.UTC
FEBRUARY, MARCH = datetime.date(2031, 2, 1), datetime.date(2031, 3, 1)
RUN_AT = datetime.datetime(2031, 3, 2, 1, 30, tzinfo=UTC)  # 02:30 in Paris on the 2nd


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


class Town:
    """Rows written in one tenant's schema, through a session scoped to it."""

    def __init__(self, resources: PlatformResources, tenant: TenantRef) -> None:
        self.resources, self.tenant = resources, tenant

    def add(self, *rows: Any) -> None:
        with self.resources.sessions()(info={"tenant": self.tenant}) as session, session.begin():
            session.add_all(rows)

    def person(self, roles: list[str], created: str = "2031-01-01T08:00", **values: Any) -> Person:
        person = Person(
            id=uuid.uuid4(), display_name="Someone", roles=roles, created_at=at(created), **values
        )
        self.add(person)
        return person

    def request(self, beneficiary: Person, created: str, **values: Any) -> HelpRequest:
        row = HelpRequest(
            id=uuid.uuid4(),
            module="visits",
            beneficiary_id=beneficiary.id,
            created_as="coordinator",
            created_at=at(created),
            **values,
        )
        self.add(row)
        return row

    def appointment(self, request: HelpRequest, volunteer: Person, start: str, end: str, status: str) -> None:
        self.add(
            Appointment(
                id=uuid.uuid4(),
                request_id=request.id,
                volunteer_id=volunteer.id,
                starts_at=at(start),
                ends_at=at(end),
                status=status,
            )
        )


@pytest.fixture(scope="module")
def towns(settings: Settings, resources: PlatformResources) -> Iterator[tuple[TenantRef, TenantRef]]:
    """Two tenants of this module's own, with rows in February and March 2031 (see ``EXPECTED``)."""
    first = make_tenant(settings, "usagea", "Usageville")
    second = make_tenant(settings, "usageb", "Comptebourg")
    a = Town(resources, first)
    b1, b2, b3 = (a.person(["beneficiary"]) for _ in range(3))
    v1 = a.person(["volunteer"])
    a.person(["volunteer"], disabled_at=at("2031-02-15T09:00"))  # a volunteer in February only
    a.person(["volunteer"], created="2031-03-01T12:00")  # a volunteer from March on
    a.person(["coordinator"])  # not a volunteer
    r1 = a.request(b1, "2031-02-10T09:00")  # open all along
    a.request(
        b2, "2031-01-15T09:00", status="closed", closed_at=at("2031-01-31T22:30")
    )  # 23:30 in Paris, January
    a.request(
        b2, "2031-01-20T09:00", status="closed", closed_at=at("2031-01-31T23:30")
    )  # 00:30 on 1 February
    a.request(b1, "2031-02-28T23:30")  # 00:30 on 1 March in Paris: a March request
    a.request(b3, "2031-03-01T10:00", status="cancelled", closed_at=at("2031-03-01T12:00"))
    a.appointment(r1, v1, "2031-02-12T10:00", "2031-02-12T11:30", "done")  # February, 1 h 30
    a.appointment(r1, v1, "2031-02-20T10:00", "2031-02-20T11:00", "no_show")
    a.appointment(r1, v1, "2031-02-28T23:30", "2031-03-01T00:15", "done")  # March in Paris, 45 min
    a.appointment(r1, v1, "2031-03-01T09:00", "2031-03-01T10:00", "done")  # March, 1 h
    a.appointment(r1, v1, "2031-03-01T14:00", "2031-03-01T15:00", "cancelled")
    a.appointment(r1, v1, "2031-03-05T09:00", "2031-03-05T10:00", "scheduled")

    b = Town(resources, second)
    helpers = [b.person(["volunteer"]) for _ in range(5)]
    for n in range(4):
        someone = b.person(["beneficiary"])
        request = b.request(someone, f"2031-03-01T1{n}:00")
        b.appointment(request, helpers[n], f"2031-03-01T1{n}:00", f"2031-03-01T1{n}:30", "done")
        b.appointment(request, helpers[n], "2031-02-10T08:00", "2031-02-10T10:00", "done")
    yield first, second


EXPECTED = {
    # (tenant, month): people helped, volunteers, requests, appointments, hours
    ("usagea", FEBRUARY): (2, 2, 1, 1, Decimal("1.50")),
    ("usagea", MARCH): (2, 2, 2, 2, Decimal("1.75")),
    ("usageb", FEBRUARY): (0, 5, 0, 4, Decimal("8.00")),
    ("usageb", MARCH): (4, 5, 4, 4, Decimal("2.00")),
}


def usage_rows(resources: PlatformResources, tenant: TenantRef) -> dict[datetime.date, TenantUsage]:
    with resources.sessions()() as session:
        rows = session.scalars(select(TenantUsage).where(TenantUsage.tenant_id == tenant.id))
        return {row.month: row for row in rows}


def figures(row: TenantUsage) -> tuple[int, int, int, int, Decimal]:
    return (row.people_helped, row.volunteers, row.requests, row.appointments, row.hours)


def run_for(tenant: TenantRef, moment: datetime.datetime) -> None:
    with clock.use(HandClock(moment)), tenant_scope(tenant):
        coop_jobs.count_tenant_usage()


def test_each_tenants_usage_counts_its_own_rows_only(
    resources: PlatformResources, towns: tuple[TenantRef, TenantRef]
) -> None:
    first, second = towns
    with pytest.raises(NoTenant):
        coop_jobs.count_tenant_usage()  # a message without a tenant counts nobody
    run_for(first, RUN_AT)
    assert usage_rows(resources, second) == {}  # the first tenant's job wrote nothing for the second
    run_for(second, RUN_AT)
    for tenant in towns:
        rows = usage_rows(resources, tenant)
        assert set(rows) == {FEBRUARY, MARCH}  # on the 2nd, the month just ended is counted again
        for month, row in rows.items():
            assert figures(row) == EXPECTED[(tenant.slug, month)], (tenant.slug, month)
            assert row.computed_at == RUN_AT


def test_a_second_run_replaces_the_months_figures(
    resources: PlatformResources, towns: tuple[TenantRef, TenantRef]
) -> None:
    first, _second = towns
    run_for(first, RUN_AT)
    town = Town(resources, first)
    newcomer = town.person(["beneficiary"])
    try:
        town.request(newcomer, "2031-03-02T00:30")
        later = RUN_AT + datetime.timedelta(days=8)  # the 10th: March alone
        run_for(first, later)
        rows = usage_rows(resources, first)
        assert set(rows) == {FEBRUARY, MARCH}
        assert (
            rows[FEBRUARY].computed_at == RUN_AT and figures(rows[FEBRUARY]) == EXPECTED[("usagea", FEBRUARY)]
        )
        people, volunteers, requests, appointments, hours = EXPECTED[("usagea", MARCH)]
        assert figures(rows[MARCH]) == (people + 1, volunteers, requests + 1, appointments, hours)
        assert rows[MARCH].computed_at == later
    finally:  # the module's other tests count the rows of the fixture alone
        with resources.sessions()(info={"tenant": first}) as session, session.begin():
            session.execute(delete(Person).where(Person.id == newcomer.id))


def test_the_nightly_job_fans_out_one_message_per_active_tenant(
    towns: tuple[TenantRef, TenantRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[uuid.UUID | None, tuple[Any, ...]]] = []

    def record(*args: Any, **kwargs: Any) -> None:
        tenant = current_tenant()
        sent.append((tenant.id if tenant else None, args + tuple(kwargs.values())))

    monkeypatch.setattr(coop_jobs.count_tenant_usage, "send", record)
    coop_jobs.count_usage()
    tenants = [tenant_id for tenant_id, _args in sent]
    assert {t.id for t in towns} <= set(tenants) and None not in tenants
    assert len(tenants) == len(set(tenants)) and all(args == () for _t, args in sent)  # only the scope
    job = next(j for j in coop_jobs.PERIODIC_JOBS if j.actor is coop_jobs.count_usage)
    assert job.trigger == "cron" and dict(job.trigger_fields) == {"hour": 2, "minute": 30}


def test_months_are_paris_months() -> None:
    assert months_to_count(datetime.date(2031, 3, 3)) == [FEBRUARY, MARCH]
    assert months_to_count(datetime.date(2031, 3, 4)) == [MARCH]
    assert months_to_count(datetime.date(2031, 1, 1)) == [
        datetime.date(2030, 12, 1),
        datetime.date(2031, 1, 1),
    ]
    start, end = month_bounds(MARCH)  # summer time starts on 30 March 2031
    assert start.astimezone(UTC) == at("2031-02-28T23:00") and end.astimezone(UTC) == at("2031-03-31T22:00")
