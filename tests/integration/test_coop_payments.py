"""Issue 12, items 5 and 6: payments recorded in the console (partial, then in full; an overpayment, a
day in the future and a double submit refused) and dunning (reminders at the right days, once per level
even when the job runs twice at once, mailed to the billing contact through the platform outbox; a
suspension proposal that an operator — and only an operator — turns into a suspension)."""

from __future__ import annotations

import asyncio
import datetime
import re
import threading
import uuid
from decimal import Decimal

import pytest
from coop_support import make_staff, staff_console
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.billing import dunning_jobs
from bippop.billing.models import BillingProfile, Invoice, InvoiceReminder, Payment, Plan, SuspensionProposal
from bippop.billing.services import payments
from bippop.billing.services.issuing import Draft, Line, issue
from bippop.billing.services.ledger import balance_column
from bippop.config import Settings
from bippop.coop import audit
from bippop.coop.models import AuditEntry
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.outbox.models import PlatformOutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.models import Tenant
from support import HandClock


@pytest.fixture
def year() -> int:
    """A year of its own (the clock is put there), far from the other tests' invoices."""
    return 3000 + uuid.uuid4().int % 5000


def bare_tenant(resources: PlatformResources, *, kind: str = "commune", code: str = "2A004") -> Tenant:
    """An active tenant's row (no schema: billing reads only the platform's tables), with a plan and a
    billing contact of its own."""
    tag = uuid.uuid4().hex[:10]
    with resources.admin_sessions().begin() as session:
        tenant = Tenant(
            id=uuid.uuid4(),
            slug=f"pay-{tag}",
            name=f"Commune {tag}",
            kind=kind,
            official_code=code,
            status="active",
            schema_name=f"t_pay_{tag}",
            db_role=f"r_pay_{tag}",
        )
        plan = Plan(id=uuid.uuid4(), code=f"p-{tag}", name="Plan", kind="flat", flat_price=Decimal("1500.00"))
        session.add_all([tenant, plan])
        session.flush()
        session.add(
            BillingProfile(
                tenant_id=tenant.id,
                plan_id=plan.id,
                population=1000,
                legal_name=tenant.name,
                siret="21690123100011",
                contact_name="Camille Compta",
                contact_email=f"compta-{tag}@mairie.example.org",
            )
        )
        session.expunge(tenant)
    return tenant


def noon(day: datetime.date) -> HandClock:
    return HandClock(datetime.datetime(day.year, day.month, day.day, 11, tzinfo=datetime.UTC))


def new_invoice(
    resources: PlatformResources, tenant_id: uuid.UUID, on: datetime.date, net: str = "1500.00"
) -> Invoice:
    draft = Draft(
        tenant_id=tenant_id,
        buyer={"name": "Commune", "siret": "21690123100011"},
        seller={"name": "Bip Pop SCIC", "siren": "123456782"},
        lines=[Line("Abonnement annuel", Decimal(1), Decimal(net), Decimal("20.00"))],
    )
    with clock.use(noon(on)), resources.sessions().begin() as session:
        invoice = issue(session, draft)
        session.expunge(invoice)
    return invoice


def balance_of(resources: PlatformResources, invoice_id: uuid.UUID) -> Decimal:
    with resources.sessions()() as session:
        return Decimal(session.scalar(select(balance_column()).where(Invoice.id == invoice_id)))


def payments_of(resources: PlatformResources, invoice_id: uuid.UUID) -> list[Payment]:
    with resources.sessions()() as session:
        return list(
            session.scalars(
                select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.created_at)
            )
        )


# Payments ------------------------------------------------------------------------------------------


def days_ago(days: int) -> datetime.date:
    """A day before today: the console's pages run on the real clock (its sign-in codes do)."""
    return clock.today() - datetime.timedelta(days=days)


def test_partial_payments_then_the_rest_leave_nothing_due(
    settings: Settings, resources: PlatformResources
) -> None:
    tenant = bare_tenant(resources)
    invoice = new_invoice(resources, tenant.id, days_ago(20))  # 1 800,00 incl. VAT
    with staff_console(settings, resources) as console:
        path = f"/factures/{invoice.id}/paiements"
        first = console.post(
            path,
            {
                "paid_on": days_ago(10).isoformat(),
                "amount": "1 234,56",
                "reference": "VIR 0042",
                "confirm": "1",
            },
        )
        assert first.status_code == 303, first.text
        assert first.headers["location"] == f"/factures/{invoice.id}?done=payment&status=partly_paid"
        assert balance_of(resources, invoice.id) == Decimal("565.44")
        second = console.post(
            path,
            {"paid_on": days_ago(0).isoformat(), "amount": "565.44", "reference": "VIR 0043", "confirm": "1"},
        )
        assert second.status_code == 303
        assert second.headers["location"].endswith("status=paid")
        staff_id = console.staff_id
    assert balance_of(resources, invoice.id) == Decimal("0.00")
    assert payments.settlement(invoice.total_incl_vat, balance_of(resources, invoice.id)) == payments.PAID
    rows = payments_of(resources, invoice.id)
    assert [(p.amount, p.reference, p.recorded_by) for p in rows] == [
        (Decimal("1234.56"), "VIR 0042", staff_id),
        (Decimal("565.44"), "VIR 0043", staff_id),
    ]
    with resources.sessions()() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "invoice.payment", AuditEntry.target == invoice.number
            )
        ).all()
    assert sorted(e.details["amount"] for e in entries) == ["1234.56", "565.44"]
    assert {e.tenant_id for e in entries} == {tenant.id} and {e.staff_id for e in entries} == {staff_id}


def test_a_payment_is_shown_for_a_second_look_before_it_is_kept(
    settings: Settings, resources: PlatformResources
) -> None:
    tenant = bare_tenant(resources)
    invoice = new_invoice(resources, tenant.id, days_ago(20))  # 1 800,00 incl. VAT
    with staff_console(settings, resources) as console:
        form = {"paid_on": days_ago(1).isoformat(), "amount": "800", "reference": "VIR 77"}
        look = console.post(f"/factures/{invoice.id}/paiements", form)
        assert look.status_code == 200 and "cannot be changed or removed" in look.text
        assert 'name="confirm" value="1"' in look.text and 'value="VIR 77"' in look.text
        assert payments_of(resources, invoice.id) == []  # nothing kept yet
        payment_id = re.search(r'name="payment" value="([0-9a-f-]{36})"', look.text)
        assert payment_id is not None, "the confirmation carries the payment's id"
        confirm = {**form, "payment": payment_id.group(1), "confirm": "1"}
        kept = console.post(f"/factures/{invoice.id}/paiements", confirm)
        assert kept.status_code == 303
        again = console.post(f"/factures/{invoice.id}/paiements", confirm)  # double click, « resend »
        assert again.status_code == 303 and again.headers["location"] == kept.headers["location"]
        other = new_invoice(resources, tenant.id, days_ago(20))
        elsewhere = console.post(f"/factures/{other.id}/paiements", confirm)
        assert elsewhere.status_code == 400 and "recorded on another invoice" in elsewhere.text
    assert [p.amount for p in payments_of(resources, invoice.id)] == [Decimal("800.00")]
    assert [str(p.id) for p in payments_of(resources, invoice.id)] == [payment_id.group(1)]
    assert payments_of(resources, other.id) == []


def test_an_overpayment_a_future_day_and_a_missing_reference_are_refused(
    settings: Settings, resources: PlatformResources
) -> None:
    tenant = bare_tenant(resources)
    invoice = new_invoice(resources, tenant.id, days_ago(6), net="100.00")  # 120,00
    yesterday, tomorrow, too_early = (
        days_ago(1).isoformat(),
        days_ago(-1).isoformat(),
        days_ago(7).isoformat(),
    )
    with staff_console(settings, resources) as console:
        path = f"/factures/{invoice.id}/paiements"
        over = console.post(path, {"paid_on": yesterday, "amount": "120.01", "reference": "CHQ 7"})
        assert over.status_code == 400
        assert "more than what is still due" in over.text and 'aria-describedby="' in over.text
        assert 'value="120.01"' in over.text and 'value="CHQ 7"' in over.text  # nothing typed is lost
        future = console.post(path, {"paid_on": tomorrow, "amount": "10", "reference": "CHQ 7"})
        assert future.status_code == 400 and "cannot be in the future" in future.text
        early = console.post(path, {"paid_on": too_early, "amount": "10", "reference": "CHQ 7"})
        assert early.status_code == 400 and "before the invoice" in early.text
        bad = console.post(path, {"paid_on": yesterday, "amount": "12,345", "reference": ""})
        assert bad.status_code == 400 and "for example 1 234,56" in bad.text and "reference" in bad.text
        zero = console.post(path, {"paid_on": yesterday, "amount": "0", "reference": "x"})
        assert zero.status_code == 400 and "more than zero" in zero.text
        assert console.post(f"/factures/{uuid.uuid4()}/paiements", {"amount": "1"}).status_code == 404
    assert payments_of(resources, invoice.id) == []
    assert balance_of(resources, invoice.id) == Decimal("120.00")


def test_the_amount_is_read_the_french_way_and_the_english_way() -> None:
    assert payments.parse_amount("1 234,56") == Decimal("1234.56")
    assert payments.parse_amount("1\u202f234,5") == Decimal("1234.50")
    assert payments.parse_amount("1234.56") == Decimal("1234.56")
    assert payments.parse_amount("12") == Decimal("12.00")
    for wrong in ("1,234.56", "12,345", "-5", "abc", "", "1e3"):
        assert payments.parse_amount(wrong) is None, wrong


async def test_two_payments_submitted_at_once_never_overpay(
    settings: Settings, resources: PlatformResources, year: int
) -> None:
    """The second waits for the first's lock on the invoice, then sees what the first recorded."""
    tenant = bare_tenant(resources)
    invoice = new_invoice(resources, tenant.id, datetime.date(year, 6, 1), net="100.00")  # 120,00
    staff, _secret = make_staff(resources, settings)
    engine = make_async_engine(settings)
    factory = async_session_factory(engine)
    form = {"paid_on": f"{year}-06-02", "amount": "100,00", "reference": "VIR double"}
    today = datetime.date(year, 6, 3)
    try:
        async with factory() as first, factory() as second, factory() as watcher:
            done = await payments.record_payment(
                first, invoice.id, form, staff_id=staff.id, today=today, audit=audit.record
            )
            assert done.done
            waiting = asyncio.create_task(
                payments.record_payment(
                    second, invoice.id, form, staff_id=staff.id, today=today, audit=audit.record
                )
            )
            assert await blocked_on_a_lock(watcher), "the second submit never waited for the first"
            assert not waiting.done()
            await first.commit()
            refused = await waiting
            await second.rollback()
    finally:
        await engine.dispose()
    assert not refused.done and "amount" in refused.errors  # « more than what is still due »
    assert [p.amount for p in payments_of(resources, invoice.id)] == [Decimal("100.00")]
    assert balance_of(resources, invoice.id) == Decimal("20.00")


async def test_one_confirmation_sent_twice_at_once_records_one_payment(
    settings: Settings, resources: PlatformResources, year: int
) -> None:
    """Two tabs confirming the same payment: the second waits for the invoice's lock, then finds the
    payment's id recorded and adds nothing (no « more than what is still due » either: it is done)."""
    tenant = bare_tenant(resources)
    invoice = new_invoice(resources, tenant.id, datetime.date(year, 6, 1), net="100.00")  # 120,00
    staff, _secret = make_staff(resources, settings)
    engine = make_async_engine(settings)
    factory = async_session_factory(engine)
    form = {
        "paid_on": f"{year}-06-02",
        "amount": "50,00",
        "reference": "VIR deux onglets",
        "payment": str(uuid.uuid4()),
    }
    today = datetime.date(year, 6, 3)
    try:
        async with factory() as first, factory() as second, factory() as watcher:
            done = await payments.record_payment(
                first, invoice.id, form, staff_id=staff.id, today=today, audit=audit.record
            )
            assert done.done and not done.repeated
            waiting = asyncio.create_task(
                payments.record_payment(
                    second, invoice.id, form, staff_id=staff.id, today=today, audit=audit.record
                )
            )
            assert await blocked_on_a_lock(watcher), "the second confirmation never waited for the first"
            assert not waiting.done()
            await first.commit()
            again = await waiting
            await second.commit()
    finally:
        await engine.dispose()
    assert again.repeated and again.errors == {}
    assert [p.amount for p in payments_of(resources, invoice.id)] == [Decimal("50.00")]
    assert balance_of(resources, invoice.id) == Decimal("70.00")


async def blocked_on_a_lock(watcher: AsyncSession) -> bool:
    """True once some session of this database waits for a row lock (a few hundred looks at most)."""
    for _ in range(500):
        await asyncio.sleep(0)
        blocked = await watcher.scalar(
            text(
                "select count(*) from pg_stat_activity"
                " where wait_event_type = 'Lock' and datname = current_database()"
            )
        )
        await watcher.rollback()
        if blocked:
            return True
    return False


# Dunning -------------------------------------------------------------------------------------------


def reminders_of(resources: PlatformResources, invoice_id: uuid.UUID) -> list[int]:
    with resources.sessions()() as session:
        return sorted(
            session.scalars(select(InvoiceReminder.level).where(InvoiceReminder.invoice_id == invoice_id))
        )


def mail_to(resources: PlatformResources, address: str) -> list[PlatformOutboxMessage]:
    with resources.sessions()() as session:
        return list(
            session.scalars(
                select(PlatformOutboxMessage)
                .where(PlatformOutboxMessage.recipient == address)
                .order_by(PlatformOutboxMessage.created_at)
            )
        )


def contact_of(resources: PlatformResources, tenant_id: uuid.UUID) -> str:
    with resources.sessions()() as session:
        profile = session.get(BillingProfile, tenant_id)
        assert profile is not None
        return profile.contact_email


def run_on(resources: PlatformResources, day: datetime.date, runs: int = 1) -> None:
    """The daily job on ``day``; ``runs`` at once (threads started together)."""
    with clock.use(noon(day)):
        if runs == 1:
            dunning_jobs.dun(resources)
            return
        start = threading.Barrier(runs)
        failures: list[BaseException] = []

        def run() -> None:
            try:
                start.wait()
                dunning_jobs.dun(resources)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run) for _ in range(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures


def status_of(resources: PlatformResources, tenant_id: uuid.UUID) -> str:
    with resources.sessions()() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant.status


def test_reminders_go_at_the_right_days_once_per_level_to_the_billing_contact(
    settings: Settings, resources: PlatformResources, year: int
) -> None:
    tenant = bare_tenant(resources)
    invoice = new_invoice(resources, tenant.id, datetime.date(year, 1, 10))
    due = invoice.due_date
    contact = contact_of(resources, tenant.id)
    late = lambda days: due + datetime.timedelta(days=days)  # noqa: E731
    run_on(resources, late(6))
    assert reminders_of(resources, invoice.id) == []
    run_on(resources, late(7), runs=2)
    run_on(resources, late(7))
    assert reminders_of(resources, invoice.id) == [1]
    run_on(resources, late(20))
    assert reminders_of(resources, invoice.id) == [1]
    run_on(resources, late(21))
    run_on(resources, late(35), runs=2)
    run_on(resources, late(36))
    assert reminders_of(resources, invoice.id) == [1, 2, 3]
    mails = mail_to(resources, contact)
    assert len(mails) == 3 and all(m.purpose == "invoice_reminder" for m in mails)
    assert all(invoice.number in m.subject and invoice.number in m.body for m in mails)
    assert all("1\u202f800,00" in m.body and settings.coop_name in m.body for m in mails)  # French amounts
    assert "Last reminder" in mails[2].subject or "Dernière relance" in mails[2].subject
    with resources.sessions()() as session:
        assert (
            session.scalar(select(SuspensionProposal).where(SuspensionProposal.invoice_id == invoice.id))
            is None
        )
    assert status_of(resources, tenant.id) == "active"


def test_no_reminder_once_the_invoice_is_paid(settings: Settings, resources: PlatformResources) -> None:
    tenant = bare_tenant(resources)
    invoice = new_invoice(resources, tenant.id, days_ago(110), net="10.00")
    with staff_console(settings, resources) as console:
        paid = console.post(
            f"/factures/{invoice.id}/paiements",
            {"paid_on": invoice.due_date.isoformat(), "amount": "12", "reference": "VIR", "confirm": "1"},
        )
        assert paid.status_code == 303
    run_on(resources, days_ago(0))
    assert reminders_of(resources, invoice.id) == []
    assert mail_to(resources, contact_of(resources, tenant.id)) == []


def test_a_proposal_waits_for_an_operator_who_suspends_the_tenant(
    settings: Settings, resources: PlatformResources
) -> None:
    tenant = bare_tenant(resources)
    days = settings.suspension_proposal_days
    invoice = new_invoice(resources, tenant.id, days_ago(30 + days + 7))
    kept = new_invoice(resources, tenant.id, days_ago(30 + days + 6), net="50.00")
    run_on(resources, invoice.due_date + datetime.timedelta(days=days - 1))
    with resources.sessions()() as session:
        assert (
            session.scalars(select(SuspensionProposal).where(SuspensionProposal.tenant_id == tenant.id)).all()
            == []
        )
    run_on(resources, kept.due_date + datetime.timedelta(days=days), runs=2)
    run_on(resources, days_ago(0))
    with resources.sessions()() as session:
        proposals = {
            p.invoice_id: p
            for p in session.scalars(
                select(SuspensionProposal).where(SuspensionProposal.tenant_id == tenant.id)
            )
        }
    assert set(proposals) == {invoice.id, kept.id}
    assert status_of(resources, tenant.id) == "active"  # never suspended by the job
    first, second = proposals[invoice.id], proposals[kept.id]
    with staff_console(settings, resources, role="coop_operator") as console:
        page = console.get("/relances")
        assert page.status_code == 200
        assert tenant.name in page.text and invoice.number in page.text and kept.number in page.text
        assert "<caption>" in page.text and f"<td>{days + 7}</td>" in page.text
        dismissed = console.post(f"/relances/{second.id}/ecarter")
        assert dismissed.status_code == 303 and dismissed.headers["location"] == "/relances?done=dismissed"
        assert status_of(resources, tenant.id) == "active"
        confirm = console.get(f"/relances/{first.id}/suspendre")
        assert confirm.status_code == 200 and "Suspend the tenant" in confirm.text
        assert status_of(resources, tenant.id) == "active"  # showing the confirmation changes nothing
        done = console.post(f"/relances/{first.id}/suspendre")
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/relances?done=suspended"
        again = console.post(f"/relances/{first.id}/suspendre")
        assert again.status_code == 409 and "already been decided" in again.text
        assert console.get(f"/relances/{uuid.uuid4()}/suspendre").status_code == 404
        after = console.get("/relances?done=suspended")
        assert 'role="status"' in after.text and invoice.number not in after.text.split("Reminders sent")[0]
        staff_id = console.staff_id
    assert status_of(resources, tenant.id) == "suspended"
    with resources.sessions()() as session:
        decided = {
            p.invoice_id: (p.decision, p.decided_by)
            for p in session.scalars(
                select(SuspensionProposal).where(SuspensionProposal.tenant_id == tenant.id)
            )
        }
        actions = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.tenant_id == tenant.id, AuditEntry.action.like("dunning.%")
            )
        ).all()
    assert decided == {invoice.id: ("suspended", staff_id), kept.id: ("dismissed", staff_id)}
    assert sorted(actions) == ["dunning.dismiss", "dunning.suspend"]
