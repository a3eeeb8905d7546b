"""Issue 12: « Change plan » on the console's tenant page. The co-op moves a council to another plan
from a day of the current period; the preview shows the credit note and the invoice the change will
issue, to the cent, before anything is written; the change is audited, the billing profile follows,
the documents' PDFs are stored; a day outside the current period, or one an invoice already starts
on, is refused next to the field."""

from __future__ import annotations

import asyncio
import datetime
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from coop_support import make_staff, staff_console
from invoicing_support import Billing, billing_kit
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from bippop import clock
from bippop.billing.models import CREDIT_NOTE, INVOICE, BillingProfile, Plan, Subscription
from bippop.billing.services import documents, subscriptions
from bippop.config import Settings
from bippop.coop.models import AuditEntry
from bippop.coop.services import invoices as coop_invoices
from bippop.coop.services import plan_change
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.runtime.resources import PlatformResources
from bippop.storage import LocalStorage, StorageUnavailable, storage_from_settings
from bippop.tenants.models import Tenant
from support import HandClock


class IssuingClock(HandClock):
    """Today and the documents' dates in the test's own year, the signed-in session on the system's
    time (``app.state.clock`` reads the seconds)."""

    def __call__(self) -> float:
        return clock.SYSTEM()


@pytest.fixture
def billing(resources: PlatformResources, settings: Settings) -> Iterator[Billing]:
    yield from billing_kit(resources, settings)


def offered(billing: Billing, **columns: str) -> Plan:
    plan = billing.plan(**columns)
    with billing.resources.admin_sessions().begin() as session:
        session.execute(update(Plan).where(Plan.id == plan.id).values(archived_at=None))
    return plan


def slug(tenant_id: uuid.UUID) -> str:
    return f"fac-{tenant_id.hex[:12]}"


def cell(html: str, cell_id: str) -> str:
    found = re.search(rf'id="{cell_id}">([^<]*)<', html)
    assert found is not None, cell_id
    return found.group(1)


def shown(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def changes(resources: PlatformResources, tenant_id: uuid.UUID) -> list[AuditEntry]:
    with resources.sessions()() as session:
        query = select(AuditEntry).where(
            AuditEntry.action == "tenant.plan_change", AuditEntry.tenant_id == tenant_id
        )
        return list(session.scalars(query))


def test_the_preview_is_what_the_change_issues_to_the_cent(
    billing: Billing, resources: PlatformResources
) -> None:
    old, new = offered(billing), offered(billing, unit_price="0.41")
    town = billing.tenant(old, population=16421)
    with clock.use(billing.clock(3, 1)):
        billing.run([town], storage=storage_from_settings(billing.settings))
    (invoice,) = billing.invoices(town)
    path = f"/collectivites/{slug(town)}/offre"
    with staff_console(billing.settings, resources, role="coop_operator") as console:
        with clock.use(IssuingClock(billing.clock(5, 14).at)):  # today: 14 May of the test's year
            form = console.get(path)
            assert form.status_code == 200 and f'value="{new.id}"' in form.text
            assert f'value="{old.id}"' not in form.text  # the current plan is not offered
            assert f'value="{billing.day(5, 14)}"' in form.text  # the day defaults to today
            before = console.get(path, params={"plan": str(new.id), "day": str(billing.day(1, 1))})
            assert before.status_code == 400 and "already starts on this day" in before.text
            assert invoice.number in before.text
            for day, message in (
                (billing.day(1, 1) - datetime.timedelta(days=1), "Choose a day from"),
                (datetime.date(billing.year + 1, 1, 2), "Choose a day from"),
                ("14/05", "Enter the day of the change"),
            ):
                refused = console.post(path, {"plan": str(new.id), "day": str(day)})
                assert refused.status_code == 400 and message in refused.text
                assert 'aria-describedby="hint-day error-day"' in refused.text
            assert (
                console.post(path, {"plan": str(old.id), "day": str(billing.day(5, 14))}).status_code == 400
            )
            assert len(billing.invoices(town)) == 1 and changes(resources, town) == []

            preview = console.get(path, params={"plan": str(new.id), "day": str(billing.day(5, 14))})
            assert preview.status_code == 200 and "What the change will do" in preview.text
            assert len(billing.invoices(town)) == 1  # the preview issues nothing
            done = console.post(path, {"plan": str(new.id), "day": str(billing.day(5, 14))})
            assert done.status_code == 303 and done.headers["location"].endswith("?fait=plan")
        with billing.resources.admin_sessions().begin() as session:  # a bare tenant: no schema to read
            session.execute(update(Tenant).where(Tenant.id == town).values(status="moving"))
        page = console.get(done.headers["location"]).text
        assert "The plan is changed" in page and f'href="{path}"' in page  # the tenant page links to it

    first, note, charge = billing.invoices(town)
    assert (note.kind, note.credits_invoice_id, charge.kind) == (CREDIT_NOTE, first.id, INVOICE)
    assert shown(note.total_incl_vat) in cell(preview.text, "preview-credit_note")
    assert shown(note.total_excl_vat) in cell(preview.text, "preview-credit_note-excl")
    assert shown(charge.total_incl_vat) in cell(preview.text, "preview-invoice")
    assert shown(charge.total_excl_vat) in cell(preview.text, "preview-invoice-excl")
    # 16,421 inhabitants: 4,105.25 a year on the old plan, 6,732.61 on the new; 14 May – 31 December.
    days = (datetime.date(billing.year + 1, 1, 1) - billing.day(5, 14)).days
    year_days = (datetime.date(billing.year + 1, 1, 1) - billing.day()).days
    unused = first.total_excl_vat - (Decimal("4105.25") * (year_days - days) / year_days).quantize(
        Decimal("0.01")
    )
    assert note.total_excl_vat == unused
    assert charge.total_excl_vat == (Decimal("6732.61") * days / year_days).quantize(Decimal("0.01"))
    assert (charge.period_start, charge.period_end) == (billing.day(5, 14), billing.day(12, 31))
    assert note.pdf_key and charge.pdf_key == f"billing/{town}/{charge.number}.pdf"
    (entry,) = changes(resources, town)
    assert entry.details == {
        "from_plan": old.code,
        "to_plan": new.code,
        "day": str(billing.day(5, 14)),
        "credit_note": note.number,
        "credit_note_amount": str(note.total_incl_vat),
        "invoice": charge.number,
        "invoice_amount": str(charge.total_incl_vat),
    }
    with resources.sessions()() as session:
        assert session.get_one(BillingProfile, town).plan_id == new.id
        current = session.scalar(
            select(Subscription).where(Subscription.tenant_id == town, Subscription.ends_on.is_(None))
        )
        assert current is not None and (current.plan_id, current.starts_on) == (new.id, billing.day(5, 14))


def test_a_change_before_any_invoice_issues_nothing_and_only_offered_plans_are_taken(
    billing: Billing, resources: PlatformResources
) -> None:
    old, new, archived = offered(billing), offered(billing, period="monthly"), billing.plan()
    town = billing.tenant(old, since=datetime.date(billing.year, 2, 1))
    path = f"/collectivites/{slug(town)}/offre"
    with staff_console(billing.settings, resources) as console:
        with clock.use(IssuingClock(billing.clock(2, 3).at)):
            assert (
                console.post(path, {"plan": str(archived.id), "day": str(billing.day(2, 3))}).status_code
                == 400
            )
            assert (
                "Choose one of the plans offered"
                in console.post(path, {"plan": "x", "day": "2100-01-01"}).text
            )
            preview = console.get(path, params={"plan": str(new.id), "day": str(billing.day(2, 10))})
            assert "Nothing is invoiced yet" in preview.text
            done = console.post(path, {"plan": str(new.id), "day": str(billing.day(2, 10))})
            assert done.status_code == 303
        assert console.get(f"/collectivites/nobody-{uuid.uuid4().hex[:6]}/offre").status_code == 404
    assert billing.invoices(town) == []
    (entry,) = changes(resources, town)
    assert entry.details == {"from_plan": old.code, "to_plan": new.code, "day": str(billing.day(2, 10))}
    with resources.sessions()() as session:
        assert session.get_one(BillingProfile, town).plan_id == new.id
    # The run then bills each plan its own days: 1–9 February on the old plan, then months of the new.
    with clock.use(billing.clock(3, 1)):
        billing.run([town], billing.day(3, 1))
    periods = [(i.period_start, i.period_end) for i in billing.invoices(town)]
    assert periods == [
        (billing.day(2, 1), billing.day(2, 9)),
        (billing.day(2, 10), billing.day(3, 1) - datetime.timedelta(days=1)),
        (billing.day(3, 1), billing.day(3, 31)),
    ]


def test_a_storage_outage_leaves_the_documents_to_the_retry_job(
    billing: Billing, resources: PlatformResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = offered(billing), offered(billing, unit_price="0.30")
    town = billing.tenant(old)
    with clock.use(billing.clock(3, 1)):
        billing.run([town])
    path = f"/collectivites/{slug(town)}/offre"
    with staff_console(billing.settings, resources) as console:

        def out(*_args: Any, **_kwargs: Any) -> None:
            raise StorageUnavailable("storage out")

        monkeypatch.setattr(LocalStorage, "put", out)
        with clock.use(IssuingClock(billing.clock(6, 2).at)):
            done = console.post(path, {"plan": str(new.id), "day": str(billing.day(6, 2))})
        monkeypatch.undo()
    assert done.status_code == 303
    _first, note, charge = billing.invoices(town)
    assert [(d.pdf_key, d.pdf_error) for d in (note, charge)] == [(None, "storage: StorageUnavailable")] * 2
    storage = storage_from_settings(billing.settings)
    assert documents.retry_missing(resources.sessions(), storage, tenant_ids=[town]) == 3  # the run's too
    assert all(d.pdf_key for d in billing.invoices(town))


def test_two_changes_of_plan_sent_at_once_follow_each_other(
    billing: Billing, resources: PlatformResources
) -> None:
    """Two operators move one council on the same day to two plans: the second waits for the first's
    lock on the billing profile, then finds the day taken by the first one's documents, and issues
    nothing (without the lock it would be checked against the old plan and hand back the first's
    documents as its own)."""
    old, first_plan, second_plan = (
        offered(billing),
        offered(billing, unit_price="0.30"),
        offered(billing, unit_price="0.35"),
    )
    town = billing.tenant(old)
    with clock.use(billing.clock(3, 1)):
        billing.run([town])
    staff, _secret = make_staff(resources, billing.settings)
    day, today = billing.day(6, 2), billing.day(6, 2)
    factory = resources.sessions()

    def change(session: Session, plan: Plan) -> plan_change.Outcome:
        tenant = session.get_one(Tenant, town)
        form = {"plan": str(plan.id), "day": str(day)}
        return plan_change.perform(session, billing.settings, staff.id, tenant, form, today)

    with factory() as first, factory() as second, factory() as watcher:
        done = change(first, first_plan)
        assert done.errors == {} and len(done.issued) == 2
        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting = pool.submit(change, second, second_plan)
            assert blocked_on_a_lock(watcher), "the second change never waited for the first"
            assert not waiting.done()
            first.commit()
            refused = waiting.result(timeout=30)
        second.rollback()
    assert "commence déjà ce jour-là" in refused.errors["day"] and refused.issued == []
    kinds = sorted(i.kind for i in billing.invoices(town))  # the run's, then the first change's two
    assert kinds == [CREDIT_NOTE, INVOICE, INVOICE]
    assert len(changes(resources, town)) == 1
    with resources.sessions()() as session:
        assert session.get_one(BillingProfile, town).plan_id == first_plan.id
        current = session.scalar(
            select(Subscription).where(Subscription.tenant_id == town, Subscription.ends_on.is_(None))
        )
        assert current is not None and current.plan_id == first_plan.id
        with pytest.raises(ValueError, match="already starts on"):  # the service refuses it by itself
            subscriptions.change_plan(session, town, second_plan.id, day, settings=billing.settings)
        session.rollback()


def blocked_on_a_lock(watcher: Session) -> bool:
    """True once some session of this database waits for a row lock (within about five seconds)."""
    for _ in range(500):
        blocked = watcher.scalar(
            text(
                "select count(*) from pg_stat_activity"
                " where wait_event_type = 'Lock' and datname = current_database()"
            )
        )
        watcher.rollback()
        if blocked:
            return True
        threading.Event().wait(0.01)
    return False


async def test_a_credit_note_and_a_change_of_plan_at_once_never_leave_the_change_unpriced(
    billing: Billing, resources: PlatformResources
) -> None:
    """The console credits the period's invoice in full while an operator changes the plan: the credit
    note takes the billing profile's lock first (as the change does), so the change waits, then finds
    the period credited in full and is refused (without the lock it went through, priced nowhere)."""
    old, new = offered(billing), offered(billing, unit_price="0.30")
    town = billing.tenant(old)
    with clock.use(billing.clock(3, 1)):
        billing.run([town])
    (invoice,) = billing.invoices(town)
    staff, _secret = make_staff(resources, billing.settings)
    day = billing.day(6, 2)
    engine = make_async_engine(billing.settings)
    factory = async_session_factory(engine)

    def change() -> plan_change.Outcome:
        with resources.sessions()() as session:
            tenant = session.get_one(Tenant, town)
            form = {"plan": str(new.id), "day": str(day)}
            outcome = plan_change.perform(session, billing.settings, staff.id, tenant, form, day)
            session.commit()
            return outcome

    try:
        async with factory() as crediting:
            credited = await coop_invoices.credit_in_full(crediting, staff.id, invoice.id)
            assert credited is not None and credited.note is not None
            waiting = asyncio.get_running_loop().run_in_executor(None, change)
            with resources.sessions()() as watcher:
                assert await asyncio.to_thread(blocked_on_a_lock, watcher), "the change never waited"
            await crediting.commit()
            refused = await waiting
    finally:
        await engine.dispose()
    assert "entièrement annulée par avoir" in refused.errors["day"]  # « credited in full »
    assert refused.issued == []
    with resources.sessions()() as session:
        assert session.get_one(BillingProfile, town).plan_id == old.id  # nothing changed
    assert sorted(i.kind for i in billing.invoices(town)) == [CREDIT_NOTE, INVOICE]
