"""Issue 12, item 3: invoice numbers are unique, consecutive and in the order of the issue dates, even
with two runs at once; a rolled-back issue leaves no gap; a run issued again issues nothing twice; an
issued invoice is never edited nor deleted, whoever asks (the application's role or the owner's)."""

from __future__ import annotations

import datetime
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bippop import clock
from bippop.billing.models import CREDIT_NOTE, Invoice, InvoiceSequence
from bippop.billing.services.issuing import Draft, Line, credit_note_for, issue, totals
from bippop.runtime.resources import PlatformResources
from support import HandClock, fresh_invoice_year

SELLER = {"name": "Bip Pop SCIC", "siren": "123456782"}


def draft(tenant_id: uuid.UUID, run_key: str | None = None, amount: str = "4105.00") -> Draft:
    return Draft(
        tenant_id=tenant_id,
        buyer={"name": "Commune de Test", "siret": "21690123100011"},
        seller=SELLER,
        lines=[Line("Abonnement annuel", Decimal(1), Decimal(amount), Decimal("20.00"))],
        period_start=datetime.date(2031, 1, 1),
        period_end=datetime.date(2031, 12, 31),
        run_key=run_key,
    )


@pytest.fixture
def year(resources: PlatformResources) -> int:
    """A year of its own for each test (the clock is put there), its sequence started afresh."""
    return fresh_invoice_year(resources)


class Ticking(HandClock):
    """A clock a microsecond later at each read, whichever thread reads it."""

    def __init__(self, at: datetime.datetime) -> None:
        super().__init__(at)
        self.lock = threading.Lock()

    def now(self) -> datetime.datetime:
        with self.lock:
            return self.advance(microseconds=1)


def at(year: int, month: int = 3, day: int = 1, hour: int = 10) -> Ticking:
    return Ticking(datetime.datetime(year, month, day, hour, tzinfo=datetime.UTC))


def issued_in(resources: PlatformResources, year: int) -> list[Invoice]:
    with resources.sessions()() as session:
        return list(session.scalars(select(Invoice).where(Invoice.year == year).order_by(Invoice.sequence)))


def test_totals_round_each_line_then_the_vat_once_per_rate() -> None:
    lines = [
        Line("a", Decimal("3"), Decimal("0.335"), Decimal("20.00")),  # 1.005 → 1.01
        Line("b", Decimal("1"), Decimal("10.00"), Decimal("20.00")),
        Line("c", Decimal("1"), Decimal("10.00"), Decimal("5.50")),
    ]
    sums = totals(lines)
    assert sums.excl_vat == Decimal("21.01")
    assert sums.vat_by_rate == {
        Decimal("5.50"): (Decimal("10.00"), Decimal("0.55")),
        Decimal("20.00"): (Decimal("11.01"), Decimal("2.20")),  # 2.202
    }
    assert sums.vat == Decimal("2.75") and sums.incl_vat == Decimal("23.76")


def test_two_concurrent_runs_give_a_thousand_consecutive_numbers_in_date_order(
    resources: PlatformResources, year: int
) -> None:
    tenant_id = uuid.uuid4()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(name: str) -> None:
        try:
            start.wait()
            for index in range(500):
                with resources.sessions().begin() as session:
                    issue(session, draft(tenant_id, run_key=f"{year}:{name}:{index}"))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            failures.append(exc)

    with clock.use(at(year)):
        threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failures, failures
    invoices = issued_in(resources, year)
    assert [i.sequence for i in invoices] == list(range(1, 1001))
    assert [i.number for i in invoices][:2] == [f"{year}-000001", f"{year}-000002"]
    times = [i.issued_at for i in invoices]
    assert times == sorted(times) and len(set(times)) == 1000  # numbers follow the issue times
    assert {i.run_key.split(":")[1] for i in invoices if i.run_key} == {"one", "two"}


def test_a_rolled_back_issue_gives_its_number_back(resources: PlatformResources, year: int) -> None:
    tenant_id = uuid.uuid4()
    with clock.use(at(year)):
        with resources.sessions()() as session:
            issue(session, draft(tenant_id))
            session.rollback()  # a crash before the commit (the PDF step failing, the worker killed)
        with resources.sessions().begin() as session:
            kept = issue(session, draft(tenant_id))
    assert kept.sequence == 1 and [i.sequence for i in issued_in(resources, year)] == [1]


def test_a_run_issued_again_issues_nothing_twice(resources: PlatformResources, year: int) -> None:
    tenant_id = uuid.uuid4()
    key = f"{tenant_id}:{year}-01"
    with clock.use(at(year)):
        with resources.sessions().begin() as session:
            first = issue(session, draft(tenant_id, run_key=key)).id
        # Two runs at once on the same key: the second waits for the first's commit, then returns it.
        results: list[uuid.UUID] = []
        lock = threading.Barrier(2)

        def again() -> None:
            lock.wait()
            with resources.sessions().begin() as session:
                results.append(issue(session, draft(tenant_id, run_key=key + ":b")).id)

        threads = [threading.Thread(target=again) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with resources.sessions().begin() as session:
            assert issue(session, draft(tenant_id, run_key=key)).id == first
    assert len(set(results)) == 1
    assert [i.sequence for i in issued_in(resources, year)] == [1, 2]  # no number lost to the loser


def test_an_issue_waiting_across_new_year_takes_a_number_of_the_new_year(
    resources: PlatformResources, year: int
) -> None:
    class Midnight(HandClock):
        """The first read is on 31 December at 23:59:59.999 (Paris); every later one is in January."""

        def __init__(self) -> None:
            super().__init__(datetime.datetime(year, 12, 31, 22, 59, 59, 999000, tzinfo=datetime.UTC))
            self.reads = 0

        def now(self) -> datetime.datetime:
            self.reads += 1
            if self.reads == 1:
                return super().now()
            return datetime.datetime(year + 1, 1, 1, 0, 0, self.reads, tzinfo=datetime.UTC)

    with resources.admin_sessions().begin() as session:
        session.execute(text("delete from platform.invoice_sequences where year = :y"), {"y": year + 1})
    with clock.use(Midnight()), resources.sessions().begin() as session:
        invoice = issue(session, draft(uuid.uuid4()))
    assert invoice.year == year + 1 and invoice.number == f"{year + 1}-000001"
    assert invoice.issue_date == datetime.date(year + 1, 1, 1)
    with resources.sessions()() as session:
        left = session.get(InvoiceSequence, year)
        assert left is None or left.last_number == 0  # the old year's number was given back


@pytest.mark.parametrize("owner", [False, True], ids=["application role", "owner"])
def test_an_issued_invoice_is_never_edited_nor_deleted(
    resources: PlatformResources, year: int, owner: bool
) -> None:
    with clock.use(at(year)), resources.sessions().begin() as session:
        invoice = issue(session, draft(uuid.uuid4()))
    sessions = resources.admin_sessions() if owner else resources.sessions()
    for statement in (
        "update platform.invoices set total_excl_vat = 1, vat_total = 0, total_incl_vat = 1 where id = :id",
        "update platform.invoices set buyer = '{}' where id = :id",
        "delete from platform.invoices where id = :id",
    ):
        with pytest.raises(DBAPIError), sessions.begin() as session:
            session.execute(text(statement), {"id": invoice.id})
    with sessions.begin() as session:  # what comes after issuing stays writable
        session.execute(text("update platform.invoices set pdf_key = 'k' where id = :id"), {"id": invoice.id})


def test_a_credit_note_corrects_an_invoice_with_the_next_number(
    resources: PlatformResources, year: int
) -> None:
    with clock.use(at(year)), resources.sessions().begin() as session:
        invoice = issue(session, draft(uuid.uuid4()))
        note = issue(session, credit_note_for(invoice))
    assert note.kind == CREDIT_NOTE and note.credits_invoice_id == invoice.id
    assert note.sequence == invoice.sequence + 1 and note.total_incl_vat == invoice.total_incl_vat
    assert note.total_incl_vat == Decimal("4926.00")
    with pytest.raises(ValueError):
        credit_note_for(note)
