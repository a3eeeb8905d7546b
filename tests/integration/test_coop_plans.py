"""Issue 12, item 2: the plans in the co-op console (``/offres``). An administrator creates plans of each
kind (amounts with a comma or a point), gets a clear message next to a wrong field with what was typed
kept, re-prices a plan from a period not yet begun only, archives a plan after a confirmation (never the
default one), and changes the default plan; an operator reads the plans and changes nothing. Every change
is in the platform audit log."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from coop_support import Console, staff_console
from sqlalchemy import select, update

from bippop import clock
from bippop.accounts.auth import COOP_SCOPE
from bippop.billing.models import Plan, PlanPrice
from bippop.billing.periods import calendar_period
from bippop.billing.pricing import offered_plans, plan_as_of, versions_query, yearly_price
from bippop.config import Settings
from bippop.coop.models import AuditEntry
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.runtime.resources import PlatformResources

STANDARD_ID = uuid.UUID("6d1e4c1a-3f43-4d8a-9a0e-5b0c2a5f0001")


@pytest.fixture(autouse=True)
def fresh_coop_limits(resources: PlatformResources) -> None:
    """Each test signs in afresh from the same address: the co-op's sign-in counters start at zero."""
    redis = resources.redis
    assert redis is not None
    keys = list(redis.scan_iter(match=f"*bippop/t/{COOP_SCOPE}/*"))
    if keys:
        redis.delete(*keys)


@pytest.fixture
def admin(settings: Settings, resources: PlatformResources) -> Iterator[Console]:
    with staff_console(settings, resources, role="coop_admin") as console:
        yield console


@pytest.fixture(autouse=True)
def standard_stays_default(resources: PlatformResources) -> Iterator[None]:
    """Whatever a test does, « Standard » is the default plan again afterwards (other tests rely on it)."""
    yield
    with resources.admin_sessions().begin() as session:
        session.execute(update(Plan).where(Plan.id != STANDARD_ID).values(is_default=False))
        session.execute(update(Plan).where(Plan.id == STANDARD_ID).values(is_default=True, archived_at=None))


def code() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def plan_by_code(resources: PlatformResources, plan_code: str) -> Plan | None:
    with resources.sessions()() as session:
        return session.scalar(select(Plan).where(Plan.code == plan_code))


def versions(resources: PlatformResources, plan: Plan) -> list[PlanPrice]:
    with resources.sessions()() as session:
        return list(session.scalars(versions_query([plan.id])))


def audit(resources: PlatformResources, action: str, target: str) -> list[AuditEntry]:
    with resources.sessions()() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
            )
        )


def offered_codes(settings: Settings) -> list[str]:
    async def read() -> list[str]:
        engine = make_async_engine(settings)
        try:
            async with async_session_factory(engine)() as session:
                return [p.code for p in await offered_plans(session)]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def carries_the_token(html: str) -> bool:
    """Every form of the page holds the CSRF token (a form without it would be refused when sent)."""
    return 'name="_csrf_token"' in html and 'name="_csrf_token" value=""' not in html


def new_plan(console: Console, **fields: str) -> Any:
    form = {"code": code(), "name": "Test plan", "period": "yearly", "vat_rate": "20", **fields}
    return console.post("/offres/nouvelle", form)


def test_the_default_plan_prices_16420_inhabitants_at_4105_euros(resources: PlatformResources) -> None:
    with resources.sessions()() as session:
        standard = session.scalar(select(Plan).where(Plan.is_default))
    assert standard is not None and standard.code == "standard" and standard.unit_price == Decimal("0.2500")
    assert yearly_price(standard, 16_420) == Decimal("4105.00")


def test_an_administrator_creates_a_plan_of_each_kind(admin: Console, resources: PlatformResources) -> None:
    per_inhabitant = code()
    answer = new_plan(
        admin,
        code=per_inhabitant,
        kind="per_inhabitant",
        unit_price="0,30",
        floor_price="500",
        cap_price="9 000,5",
    )
    assert answer.status_code == 303, answer.text
    plan = plan_by_code(resources, per_inhabitant)
    assert plan is not None and answer.headers["location"] == f"/offres/{plan.id}?fait=created"
    assert (plan.unit_price, plan.floor_price, plan.cap_price) == (
        Decimal("0.3"),
        Decimal(500),
        Decimal("9000.5"),
    )
    assert not plan.is_default and plan.archived_at is None
    assert yearly_price(plan, 1000) == Decimal("500.00") and yearly_price(plan, 100_000) == Decimal("9000.50")
    entry = audit(resources, "plan.create", per_inhabitant)
    assert (
        len(entry) == 1 and entry[0].staff_id == admin.staff_id and entry[0].details["unit_price"] == "0.3000"
    )

    flat = code()
    assert new_plan(admin, code=flat, kind="flat", flat_price="1200.00", period="monthly").status_code == 303
    plan = plan_by_code(resources, flat)
    assert plan is not None and plan.flat_price == Decimal(1200) and plan.period == "monthly"

    tiered = code()
    bands = {
        "band_up_to_1": "5000",
        "band_price_1": "800",
        "band_up_to_2": "20000",
        "band_price_2": "2500,50",
    }
    bands |= {"band_price_4": "6000"}  # row 3 left blank; row 4, the last, open-ended
    assert new_plan(admin, code=tiered, kind="tiered", vat_rate="5,5", **bands).status_code == 303
    plan = plan_by_code(resources, tiered)
    assert plan is not None and plan.vat_rate == Decimal("5.50")
    assert [band["up_to"] for band in plan.tiers] == [5000, 20000, None]
    assert yearly_price(plan, 20_000) == Decimal("2500.50") and yearly_price(plan, 20_001) == Decimal(
        "6000.00"
    )

    page = admin.get("/offres")
    assert page.status_code == 200 and per_inhabitant in page.text and tiered in page.text
    assert (
        "Population bands" in page.text
        and "By population, a year: up to 5000 inhabitants" in page.text
        and "Default" in page.text
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "per_inhabitant", "unit_price": "abc"}, "unit_price", "Enter a number such as 0,25"),
        ({"kind": "per_inhabitant", "unit_price": "0,12345"}, "unit_price", "at most 4 decimals"),
        (
            {"kind": "per_inhabitant", "unit_price": "0.25", "floor_price": "900", "cap_price": "800"},
            "cap_price",
            "The cap must be at least the floor.",
        ),
        ({"kind": "flat"}, "flat_price", "Enter an amount in euros"),
        ({"kind": "flat", "flat_price": "10", "vat_rate": "150"}, "vat_rate", "between 0 and 100"),
        (
            {
                "kind": "tiered",
                "band_up_to_1": "5000",
                "band_price_1": "1",
                "band_up_to_2": "4000",
                "band_price_2": "2",
            }
            | {"band_price_3": "3"},
            "band_up_to_2",
            "Each band must go above the one before it.",
        ),
        (
            {"kind": "tiered", "band_up_to_1": "5000", "band_price_1": "1"},
            "band_up_to_1",
            "the last band covers every larger population",
        ),
        ({"kind": "tiered"}, "bands", "Enter at least one band"),
        ({"kind": "flat", "flat_price": "10", "code": "Pas un code!"}, "code", "lower-case letters"),
        (
            {"kind": "flat", "flat_price": "10", "code": "standard"},
            "code",
            "Another plan already has this code.",
        ),
        ({"kind": "gratis"}, "kind", "Choose how the plan is priced."),
    ],
)
def test_wrong_input_is_refused_next_to_its_field_and_kept(
    admin: Console, resources: PlatformResources, fields: dict[str, str], field: str, message: str
) -> None:
    plan_code = fields.pop("code", code())
    answer = new_plan(admin, code=plan_code, name="Gardée", **fields)
    assert answer.status_code == 400
    assert message in answer.text
    assert f'href="#field-{field}"' in answer.text  # the summary leads to the field
    assert "Gardée" in answer.text and carries_the_token(answer.text)  # nothing typed is lost
    if plan_code != "standard":
        assert plan_by_code(resources, plan_code) is None


def test_a_new_price_applies_from_the_next_period_only(admin: Console, resources: PlatformResources) -> None:
    plan_code = code()
    assert new_plan(admin, code=plan_code, kind="per_inhabitant", unit_price="0.25").status_code == 303
    plan = plan_by_code(resources, plan_code)
    assert plan is not None
    today = clock.today()
    this_period = calendar_period("yearly", today)
    # A day of the period already begun is refused, today included.
    for day in (this_period.start, today, this_period.end - datetime.timedelta(days=1)):
        refused = admin.post(
            f"/offres/{plan.id}/prix",
            {"effective_from": day.isoformat(), "unit_price": "0,40", "vat_rate": "20"},
        )
        assert refused.status_code == 400 and "cannot change a period already begun" in refused.text
        assert 'value="0,40"' in refused.text
    assert versions(resources, plan) == []

    answer = admin.post(
        f"/offres/{plan.id}/prix", {"effective_from": "", "unit_price": "0,40", "vat_rate": "20"}
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("fait=repriced")
    found = versions(resources, plan)
    assert [v.effective_from for v in found] == [this_period.end]
    before, after = this_period.end - datetime.timedelta(days=1), this_period.end
    assert yearly_price(plan_as_of(plan, found, before), 16_420) == Decimal("4105.00")
    assert yearly_price(plan_as_of(plan, found, after), 16_420) == Decimal("6568.00")
    assert yearly_price(plan_as_of(plan, found, today), 16_420) == Decimal("4105.00")

    later = datetime.date(this_period.end.year + 1, 1, 1)
    assert (
        admin.post(
            f"/offres/{plan.id}/prix",
            {"effective_from": later.isoformat(), "unit_price": "0.5", "vat_rate": "20"},
        ).status_code
        == 303
    )
    found = versions(resources, plan)
    assert yearly_price(plan_as_of(plan, found, later), 1000) == Decimal("500.00")
    assert yearly_price(plan_as_of(plan, found, later - datetime.timedelta(days=1)), 1000) == Decimal(
        "400.00"
    )
    entries = audit(resources, "plan.reprice", plan_code)
    assert sorted(e.details["effective_from"] for e in entries) == [
        this_period.end.isoformat(),
        later.isoformat(),
    ]

    page = admin.get(f"/offres/{plan.id}")
    assert page.status_code == 200 and "Price history" in page.text and carries_the_token(page.text)
    assert page.text.count("From the period starting then") == 2  # both versions still to come


def test_archiving_needs_a_confirmation_and_stops_offering_the_plan(
    admin: Console, resources: PlatformResources, settings: Settings
) -> None:
    plan_code = code()
    assert new_plan(admin, code=plan_code, kind="flat", flat_price="100").status_code == 303
    plan = plan_by_code(resources, plan_code)
    assert plan is not None and plan_code in offered_codes(settings)
    confirm = admin.get(f"/offres/{plan.id}/archiver")
    assert (
        confirm.status_code == 200 and "Archive the plan" in confirm.text and carries_the_token(confirm.text)
    )
    assert plan_by_code(resources, plan_code).archived_at is None  # type: ignore[union-attr]  # a GET changes nothing
    assert admin.post(f"/offres/{plan.id}/archiver").status_code == 303
    archived = plan_by_code(resources, plan_code)
    assert archived is not None and archived.archived_at is not None
    assert plan_code not in offered_codes(settings)
    assert len(audit(resources, "plan.archive", plan_code)) == 1
    refused = admin.post(f"/offres/{plan.id}/par-defaut")
    assert refused.status_code == 400 and "An archived plan cannot be the default." in refused.text


def test_the_default_plan_cannot_be_archived_and_another_can_become_default(
    admin: Console, resources: PlatformResources
) -> None:
    refused = admin.post(f"/offres/{STANDARD_ID}/archiver")
    assert refused.status_code == 400 and "The default plan cannot be archived" in refused.text
    assert plan_by_code(resources, "standard").archived_at is None  # type: ignore[union-attr]
    plan_code = code()
    assert new_plan(admin, code=plan_code, kind="flat", flat_price="100").status_code == 303
    plan = plan_by_code(resources, plan_code)
    assert plan is not None
    assert admin.post(f"/offres/{plan.id}/par-defaut").status_code == 303
    assert plan_by_code(resources, plan_code).is_default  # type: ignore[union-attr]
    assert not plan_by_code(resources, "standard").is_default  # type: ignore[union-attr]
    assert len(audit(resources, "plan.default", plan_code)) == 1
    assert admin.post(f"/offres/{STANDARD_ID}/par-defaut").status_code == 303
    assert plan_by_code(resources, "standard").is_default  # type: ignore[union-attr]


def test_an_operator_reads_the_plans_and_changes_nothing(
    settings: Settings, resources: PlatformResources
) -> None:
    with staff_console(settings, resources, role="coop_operator") as operator:
        listing = operator.get("/offres")
        assert listing.status_code == 200 and "standard" in listing.text and "New plan" not in listing.text
        page = operator.get(f"/offres/{STANDARD_ID}")
        assert page.status_code == 200 and "Save the new price" not in page.text
        assert operator.get("/offres/nouvelle").status_code == 403
        assert new_plan(operator, kind="flat", flat_price="1").status_code == 403
        assert (
            operator.post(f"/offres/{STANDARD_ID}/prix", {"unit_price": "9", "vat_rate": "20"}).status_code
            == 403
        )
        assert operator.get(f"/offres/{STANDARD_ID}/archiver").status_code == 403
        assert operator.post(f"/offres/{STANDARD_ID}/par-defaut").status_code == 403
    assert versions(resources, plan_by_code(resources, "standard")) == []  # type: ignore[arg-type]


def test_an_unknown_plan_is_not_found(admin: Console) -> None:
    assert admin.get(f"/offres/{uuid.uuid4()}").status_code == 404
    assert admin.post(f"/offres/{uuid.uuid4()}/archiver").status_code == 404
