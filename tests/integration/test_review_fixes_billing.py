"""Review fixes (issue #12) against the real database: the Chorus export leaves out a tenant on hold, an
operator's mark never overwrites a final status, a deposit that timed out after Chorus Pro took it is
not deposited twice, plans changed at the same moment (archive and default, two defaults, two prices
for one day) end consistent, the plan page and the revenue show the current period's price, a huge page
number is no error, the enrolment page is never cached, and the app role deletes only where code does."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from coop_support import COOP, staff_console
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.auth import COOP_SCOPE
from bippop.billing.chorus import export, submissions
from bippop.billing.chorus.client import ChorusClient, ChorusConfig, forget_tokens
from bippop.billing.models import BillingHold, BillingProfile, Invoice, InvoiceSubmission, Plan, PlanPrice
from bippop.billing.periods import calendar_period
from bippop.billing.services import plans as rules
from bippop.billing.services import revenue
from bippop.billing.services.issuing import Draft, Line, issue
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.runtime.operations import app_login_role, resources_for
from bippop.runtime.resources import PlatformResources
from bippop.storage import storage_from_settings
from bippop.tenants.ddl import grant_app_access
from bippop.tenants.models import Tenant
from chorus_fake import FakeChorus
from support import HandClock

STANDARD_ID = uuid.UUID("6d1e4c1a-3f43-4d8a-9a0e-5b0c2a5f0001")
BUYER: dict[str, Any] = {
    "name": "Commune de Test",
    "siret": "21690123100011",
    "service_code": "SERV-SOLIDARITE",
    "engagement_number": "EJ-2027-0042",
    "address": {"line1": "1 place de la Mairie", "postcode": "69001", "city": "Lyon"},
}
SELLER: dict[str, Any] = {
    "name": "Bip Pop SCIC",
    "siren": "123456782",
    "vat_number": "FR11123456782",
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "address": {"line1": "12 rue des Tilleuls", "postcode": "75011", "city": "Paris"},
}


@pytest.fixture(autouse=True)
def fresh_coop_limits(resources: PlatformResources) -> None:
    redis = resources.redis
    assert redis is not None
    keys = list(redis.scan_iter(match=f"*bippop/t/{COOP_SCOPE}/*"))
    if keys:
        redis.delete(*keys)


CREATED: list[uuid.UUID] = []


@pytest.fixture(autouse=True)
def tenants_removed(resources: PlatformResources) -> Iterator[None]:
    """The tenants' rows made here are gone afterwards (they have no role nor schema: a test reading
    every tenant's role would trip on them)."""
    yield
    with resources.admin_sessions().begin() as session:
        session.execute(delete(Tenant).where(Tenant.id.in_(CREATED)))
    CREATED.clear()


@pytest.fixture
def standard_stays_default(resources: PlatformResources) -> Iterator[None]:
    yield
    with resources.admin_sessions().begin() as session:
        session.execute(update(Plan).where(Plan.id != STANDARD_ID).values(is_default=False))
        session.execute(update(Plan).where(Plan.id == STANDARD_ID).values(is_default=True, archived_at=None))


@pytest.fixture
def day() -> HandClock:
    year = 2100 + uuid.uuid4().int % 800
    return HandClock(datetime.datetime(year, 7, 10, 9, tzinfo=datetime.UTC))


def bare_tenant(resources: PlatformResources, plan: Plan | None = None) -> Tenant:
    tag = uuid.uuid4().hex[:10]
    with resources.admin_sessions().begin() as session:
        tenant = Tenant(
            id=uuid.uuid4(), slug=f"rev-{tag}", name=f"Commune {tag}", kind="commune", official_code="69123",
            status="active", schema_name=f"t_rev_{tag}", db_role=f"r_rev_{tag}",
        )  # fmt: skip
        plan = plan or Plan(id=uuid.uuid4(), code=f"p-{tag}", name="Plan", kind="flat", flat_price=Decimal(1))
        session.merge(plan)
        session.add(tenant)
        session.flush()
        session.add(
            BillingProfile(
                tenant_id=tenant.id, plan_id=plan.id, population=1000, legal_name=tenant.name,
                siret="21690123100011", contact_name="Camille", contact_email=f"c-{tag}@mairie.example.org",
            )
        )  # fmt: skip
        session.expunge(tenant)
    CREATED.append(tenant.id)
    return tenant


def make_invoice(resources: PlatformResources, day: HandClock, tenant_id: uuid.UUID) -> Invoice:
    draft = Draft(
        tenant_id=tenant_id,
        buyer=BUYER,
        seller=SELLER,
        lines=[Line("Abonnement annuel", Decimal(1), Decimal("100.00"), Decimal("20.00"))],
    )
    with clock.use(day), resources.sessions().begin() as session:
        invoice = issue(session, draft)
        session.expunge(invoice)
    return invoice


def new_plan(resources: PlatformResources, **columns: Any) -> Plan:
    tag = uuid.uuid4().hex[:8]
    values = {"kind": "flat", "flat_price": Decimal("1500.00"), "period": "yearly", **columns}
    with resources.admin_sessions().begin() as session:
        plan = Plan(id=uuid.uuid4(), code=f"rv-{tag}", name=f"Plan {tag}", **values)
        session.add(plan)
        session.flush()
        session.expunge(plan)
    return plan


def plan_row(resources: PlatformResources, plan_id: uuid.UUID) -> Plan:
    with resources.admin_sessions()() as session:
        found = session.get(Plan, plan_id)
        assert found is not None
        session.expunge(found)
        return found


async def blocked(watcher: AsyncSession, task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` waits for a lock (it was started and has not finished)."""
    for _ in range(500):
        await asyncio.sleep(0)
        waiting = await watcher.scalar(
            text(
                "select count(*) from pg_stat_activity where wait_event_type in ('Lock', 'Advisory') "
                "and datname = current_database()"
            )
        )
        await watcher.rollback()
        if waiting:
            return not task.done()
    return False


# 2. The export and billing holds ----------------------------------------------------------------


def test_the_export_leaves_out_an_invoice_whose_tenant_is_on_hold(
    resources: PlatformResources, day: HandClock
) -> None:
    held, free = bare_tenant(resources), bare_tenant(resources)
    on_hold, ready = make_invoice(resources, day, held.id), make_invoice(resources, day, free.id)
    with resources.admin_sessions().begin() as session:
        session.add(
            BillingHold(
                tenant_id=held.id, run_key=f"test:{uuid.uuid4()}", period_start=datetime.date(2100, 1, 1),
                period_end=datetime.date(2101, 1, 1), reason="no_population",
            )
        )  # fmt: skip
    with resources.sessions()() as session:
        found = export.plan(session, day.now().date())
    assert ready.id in [i.id for i in found.included] and on_hold.id not in [i.id for i in found.included]
    assert (on_hold.id, submissions.HELD) in [(i.id, code) for i, code in found.excluded]
    assert export.EXCLUSION_WORDS[submissions.HELD] == "facturation suspendue (blocage en cours)"
    assert not found.more


# 6. An operator's mark ---------------------------------------------------------------------------


def test_a_mark_read_before_another_one_ended_it_does_not_overwrite_it(
    resources: PlatformResources, day: HandClock
) -> None:
    invoice = make_invoice(resources, day, bare_tenant(resources).id)
    with resources.sessions().begin() as session:
        submission = InvoiceSubmission(
            id=uuid.uuid4(), invoice_id=invoice.id, channel="export", status="pending"
        )
        session.add(submission)
    with resources.sessions()() as late:
        stale = late.get(InvoiceSubmission, submission.id)  # read while it was still pending
        assert stale is not None and stale.status == "pending"
        with clock.use(day), resources.sessions().begin() as first:
            assert isinstance(submissions.mark(first, submission.id, "paid", None), InvoiceSubmission)
        with clock.use(day):
            outcome = submissions.mark(late, submission.id, "deposited", None)
        late.commit()
    assert outcome == submissions.ALREADY_SUBMITTED
    with resources.sessions()() as session:
        final = session.get(InvoiceSubmission, submission.id)
        assert final is not None and final.status == "paid"


# 11. A deposit that timed out after Chorus Pro took it --------------------------------------------


class AcceptedThenSilent(httpx.BaseTransport):
    """The real (fake) Chorus Pro takes the deposit, and its answer never comes back."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/deposer/flux"):
            response.read()
            response.close()
            raise httpx.ReadTimeout("no answer", request=request)
        return response


def test_a_deposit_taken_without_an_answer_is_not_deposited_twice(
    settings: Settings, resources: PlatformResources, day: HandClock
) -> None:
    invoice = make_invoice(resources, day, bare_tenant(resources).id)
    storage = storage_from_settings(settings)
    forget_tokens()
    try:
        with FakeChorus() as fake:
            config = ChorusConfig.from_settings(fake.settings(settings))
            assert config is not None
            http = httpx.Client(transport=AcceptedThenSilent())
            with (
                clock.use(day),
                ChorusClient(config, http) as client,
                resources.sessions().begin() as session,
            ):
                first = submissions.deposit_one(session, client, storage, invoice.id)
                assert isinstance(first, InvoiceSubmission)
                assert (first.status, first.remote_id) == ("pending", None)
            assert len(fake.deposits) == 1  # Chorus Pro has it all the same
            fake.statuses[invoice.number] = ("DEPOSEE", None)  # integrated since
            day.advance(minutes=11)
            with clock.use(day), ChorusClient(config) as client, resources.sessions().begin() as session:
                again = submissions.deposit_one(session, client, storage, invoice.id)
                assert isinstance(again, InvoiceSubmission)
                assert (again.id, again.status, again.remote_id) == (first.id, "deposited", "4242")
            assert len(fake.deposits) == 1
    finally:
        forget_tokens()


# 4, 5. Plans changed at the same moment -----------------------------------------------------------


def test_the_database_refuses_an_archived_default(resources: PlatformResources) -> None:
    plan = new_plan(resources)
    with pytest.raises(IntegrityError), resources.admin_sessions().begin() as session:
        session.execute(
            update(Plan)
            .where(Plan.id == plan.id)
            .values(is_default=True, archived_at=datetime.datetime.now(datetime.UTC))
        )


async def test_archiving_while_it_is_made_the_default_is_refused(
    settings: Settings, resources: PlatformResources, standard_stays_default: None
) -> None:
    plan = new_plan(resources)
    engine = make_async_engine(settings)
    factory = async_session_factory(engine)
    try:
        async with factory() as first, factory() as second, factory() as watcher:
            mine, theirs = await first.get(Plan, plan.id), await second.get(Plan, plan.id)
            assert mine is not None and theirs is not None
            assert (await rules.make_default_plan(first, mine)).ok
            waiting = asyncio.create_task(rules.archive_plan(second, theirs, now=clock.now()))
            assert await blocked(watcher, waiting), "the archive never waited for the plan's row"
            await first.commit()
            refused = await waiting
            await second.commit()
    finally:
        await engine.dispose()
    assert not refused.ok
    found = plan_row(resources, plan.id)
    assert found.is_default and found.archived_at is None


async def test_two_plans_made_the_default_at_once_leave_one(
    settings: Settings, resources: PlatformResources, standard_stays_default: None
) -> None:
    one, other = new_plan(resources), new_plan(resources)
    engine = make_async_engine(settings)
    factory = async_session_factory(engine)
    try:
        async with factory() as first, factory() as second, factory() as watcher:
            a, b = await first.get(Plan, one.id), await second.get(Plan, other.id)
            assert a is not None and b is not None
            await second.scalar(select(Plan.id).where(Plan.is_default))  # its snapshot: Standard
            assert (await rules.make_default_plan(first, a)).ok
            waiting = asyncio.create_task(rules.make_default_plan(second, b))
            assert await blocked(watcher, waiting), "the second never waited for the first"
            await first.commit()
            done = await waiting
            await second.commit()
    finally:
        await engine.dispose()
    assert done.ok
    with resources.admin_sessions()() as session:
        assert list(session.scalars(select(Plan.id).where(Plan.is_default))) == [other.id]


async def test_two_prices_for_the_same_day_at_once_leave_the_second(
    settings: Settings, resources: PlatformResources
) -> None:
    plan = new_plan(resources, kind="flat")
    today = datetime.date(2030, 6, 1)
    engine = make_async_engine(settings)
    factory = async_session_factory(engine)
    try:
        async with factory() as first, factory() as second, factory() as watcher:
            a, b = await first.get(Plan, plan.id), await second.get(Plan, plan.id)
            assert a is not None and b is not None
            form = {"effective_from": "", "vat_rate": "20"}
            assert (
                await rules.reprice_plan(first, a, {**form, "flat_price": "2000"}, today=today, staff_id=None)
            ).ok
            waiting = asyncio.create_task(
                rules.reprice_plan(second, b, {**form, "flat_price": "3000"}, today=today, staff_id=None)
            )
            assert await blocked(watcher, waiting), "the second never waited for the first"
            await first.commit()
            done = await waiting
            await second.commit()
    finally:
        await engine.dispose()
    assert done.ok and done.price is not None and done.price.flat_price == Decimal("3000.00")
    with resources.admin_sessions()() as session:
        rows = list(session.scalars(select(PlanPrice).where(PlanPrice.plan_id == plan.id)))
    assert [(r.effective_from, r.flat_price) for r in rows] == [
        (datetime.date(2031, 1, 1), Decimal("3000.00"))
    ]


# 3. The current period's price -----------------------------------------------------------------


def add_version(resources: PlatformResources, plan: Plan, on: datetime.date, **columns: Any) -> None:
    with resources.admin_sessions().begin() as session:
        session.add(PlanPrice(plan_id=plan.id, effective_from=on, vat_rate=Decimal("20.00"), **columns))


async def test_revenue_prices_a_subscription_as_its_period_began(
    settings: Settings, resources: PlatformResources
) -> None:
    plan = new_plan(resources, flat_price=Decimal("1500.00"))
    tenant = bare_tenant(resources, plan)
    period = calendar_period("yearly", clock.today())
    add_version(resources, plan, period.start + datetime.timedelta(days=1), flat_price=Decimal("3000.00"))
    engine = make_async_engine(settings)
    try:
        async with async_session_factory(engine)() as session:
            found = await revenue.subscribed(session, period.start + datetime.timedelta(days=10))
    finally:
        await engine.dispose()
    assert [s.yearly for s in found if s.tenant_id == tenant.id] == [Decimal("1500.00")]


def test_the_plan_page_shows_the_price_the_period_began_with(
    settings: Settings, resources: PlatformResources
) -> None:
    today = clock.today()
    period = calendar_period("yearly", today)
    if today == period.start:
        pytest.skip("a version begun after the period's first day needs a later today")
    plan = new_plan(resources, kind="per_inhabitant", flat_price=None, unit_price=Decimal("0.2500"))
    add_version(resources, plan, period.start + datetime.timedelta(days=1), unit_price=Decimal("0.4000"))
    with staff_console(settings, resources, role="coop_operator") as console:
        page = console.get(f"/offres/{plan.id}")
        listing = console.get("/offres")
    assert page.status_code == 200
    shown = page.text.split("Price today", 1)[1].split("</dd>", 1)[0]
    assert "0.25" in shown and "0.40" not in shown
    row = listing.text.split(plan.name, 1)[1].split("</tr>", 1)[0]
    assert "0.25" in row and "0.40" not in row


# 8, 9. Pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/factures", "/chorus", "/journal"])
def test_a_huge_page_number_is_no_error(settings: Settings, resources: PlatformResources, path: str) -> None:
    with staff_console(settings, resources, role="coop_admin") as console:
        assert console.get(f"{path}?page=999999999999999999").status_code == 200


def test_the_enrolment_page_is_never_cached(settings: Settings, resources: PlatformResources) -> None:
    with staff_console(settings, resources, role="coop_admin") as admin:
        email = f"invitee-{uuid.uuid4().hex[:8]}@coop.example.org"
        admin.get("/equipe/inviter")
        invited = admin.post("/equipe/inviter", {"name": "Sacha", "email": email, "role": "coop_operator"})
        assert invited.status_code in (200, 303)
    token = enrolment_token(resources, email)
    with staff_console(settings, resources, role="coop_operator") as other:  # any client with its cookies
        client = other.client
        client.cookies.clear()
        first = client.get(f"/equipe/inscription/{token}", headers=COOP)
        second = client.get(f"/equipe/inscription/{token}", headers=COOP)
    assert first.status_code == second.status_code == 200
    assert "set-cookie" not in second.headers  # nothing else would mark it personal
    assert second.headers["cache-control"] == "no-store"


def enrolment_token(resources: PlatformResources, email: str) -> str:
    import re

    from bippop.outbox.models import PlatformOutboxMessage

    with resources.admin_sessions()() as session:
        body = session.scalar(
            select(PlatformOutboxMessage.body)
            .where(PlatformOutboxMessage.recipient == email)
            .order_by(PlatformOutboxMessage.created_at.desc())
            .limit(1)
        )
    assert body is not None
    found = re.search(r"/equipe/inscription/([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


# 10. Grants ------------------------------------------------------------------------------------


def test_the_app_role_deletes_only_where_the_code_does(settings: Settings) -> None:
    app = app_login_role(settings)
    with resources_for(settings).admin_engine.begin() as connection:
        connection.execute(text(f'grant delete on platform.tenant_usage to "{app}"'))  # granted before
        grant_app_access(connection, app)

        def can(table: str, what: str) -> bool:
            return bool(
                connection.execute(
                    text("select has_table_privilege(:a, :t, :p)"),
                    {"a": app, "t": f"platform.{table}", "p": what},
                ).scalar()
            )

        for table in (
            "invoice_submissions", "plan_prices", "billing_holds", "tenant_usage", "suspension_proposals",
            "invoice_reminders", "support_notes",
        ):  # fmt: skip
            assert not can(table, "DELETE"), table
            assert can(table, "SELECT") and can(table, "INSERT") and can(table, "UPDATE"), table
        assert can("staff_enrolments", "DELETE")
