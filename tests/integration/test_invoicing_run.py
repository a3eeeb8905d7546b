"""Issue 12, items 2 and 3: the invoicing run issues one invoice per tenant and period begun, and
nothing more when run again, at once, or after a crash; it holds what may not be issued and says why;
a storage outage never costs an invoice its number; a change of plan is prorated to the cent."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import facturx
import pytest
from invoicing_support import SIRET, Billing, billing_kit
from sqlalchemy import select, update

from bippop import clock
from bippop.billing.models import (
    CREDIT_NOTE,
    INVOICE,
    BillingProfile,
    Invoice,
    Plan,
    Subscription,
)
from bippop.billing.services import documents, run
from bippop.billing.services.ledger import balance_column
from bippop.billing.services.subscriptions import change_plan
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.storage import LocalStorage, StorageUnavailable, storage_from_settings
from bippop.tenants.models import Tenant
from facturx_check import schematron_failures

CENT = Decimal("0.01")


@pytest.fixture
def billing(resources: PlatformResources, settings: Settings) -> Iterator[Billing]:
    yield from billing_kit(resources, settings)


def test_one_invoice_per_tenant_and_period_begun_and_a_rerun_issues_nothing(billing: Billing) -> None:
    yearly, monthly = billing.plan("yearly"), billing.plan("monthly")
    town = billing.tenant(yearly)
    village = billing.tenant(monthly, since=billing.day(1, 15), population=1200)
    with clock.use(billing.clock()):
        report = billing.run([town, village])
        assert billing.run([town, village]).issued == []  # a rerun issues nothing
    assert len(report.issued) == 4 and not report.failed
    invoices = billing.invoices()
    assert [i.sequence for i in invoices] == [1, 2, 3, 4]
    (year_invoice,) = billing.invoices(town)
    assert year_invoice.total_excl_vat == Decimal("4105.00") and year_invoice.total_incl_vat == Decimal(
        "4926.00"
    )
    assert (year_invoice.period_start, year_invoice.period_end) == (billing.day(1, 1), billing.day(12, 31))
    assert year_invoice.run_key == f"{town}:{billing.day(1, 1)}"
    line = year_invoice.lines[0]
    assert line["population"] == "16420" and "16\u202f420 habitants" in line["label"]
    assert year_invoice.buyer == {"name": f"Commune {town.hex[:12]}", "siret": SIRET}
    assert year_invoice.seller["siren"] == "123456782" and year_invoice.seller["iban"]
    months = billing.invoices(village)
    assert [(i.period_start, i.period_end) for i in months] == [
        (billing.day(1, 15), billing.day(1, 31)),
        (billing.day(2, 1), billing.day(2, 28 + (billing.year % 4 == 0 and billing.year % 100 != 0))),
        (billing.day(3, 1), billing.day(3, 31)),
    ]
    # 1,200 × 0.25 = 300.00 a year, 25.00 a month; 17 days of January's 31: 13.71.
    assert [i.total_excl_vat for i in months] == [Decimal("13.71"), Decimal("25.00"), Decimal("25.00")]


def test_the_default_plan_bills_16420_inhabitants_4105_a_year(
    billing: Billing, resources: PlatformResources
) -> None:
    with resources.sessions()() as session:
        default = session.scalar(select(Plan).where(Plan.is_default, Plan.archived_at.is_(None)))
    assert default is not None and default.period == "yearly"
    town = billing.tenant(default)
    with clock.use(billing.clock()):
        billing.run([town])
    (invoice,) = billing.invoices(town)
    assert invoice.total_excl_vat == Decimal("4105.00")


def test_two_runs_at_once_issue_each_invoice_once_with_no_gap(billing: Billing) -> None:
    plan = billing.plan("monthly")
    towns = [billing.tenant(plan) for _ in range(4)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def one_run() -> None:
        try:
            start.wait()
            billing.run(towns)
        except BaseException as exc:  # reported below
            failures.append(exc)

    with clock.use(billing.clock()):
        threads = [threading.Thread(target=one_run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failures, failures
    invoices = billing.invoices()
    assert [i.sequence for i in invoices] == list(range(1, 13))  # 4 tenants × 3 months, no gap
    assert len({i.run_key for i in invoices}) == 12


class Killed(BaseException):
    """The worker killed mid-run (not an error a run catches)."""


def test_a_run_killed_half_way_is_completed_by_the_next_with_consecutive_numbers(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = billing.plan()
    towns = [billing.tenant(plan) for _ in range(4)]
    real = run.bill_tenant
    calls: list[uuid.UUID] = []

    def dying(session: Any, settings: Any, tenant_id: uuid.UUID, *args: Any, **kwargs: Any) -> Any:
        calls.append(tenant_id)
        outcome = real(session, settings, tenant_id, *args, **kwargs)
        if len(calls) == 3:
            raise Killed()  # after issuing, before the commit: the third tenant's invoice is rolled back
        return outcome

    with clock.use(billing.clock()):
        monkeypatch.setattr(run, "bill_tenant", dying)
        with pytest.raises(Killed):
            billing.run(towns)
        assert {i.tenant_id for i in billing.invoices()} == set(towns[:2])
        monkeypatch.setattr(run, "bill_tenant", real)
        report = billing.run(towns)
    assert len(report.issued) == 2
    invoices = billing.invoices()
    assert [i.sequence for i in invoices] == [1, 2, 3, 4]
    assert [i.tenant_id for i in invoices] == towns


def test_an_engagement_number_missing_holds_the_period_until_it_is_given(
    billing: Billing, resources: PlatformResources
) -> None:
    town = billing.tenant(billing.plan(), engagement_required=True)
    with clock.use(billing.clock()):
        report = billing.run([town])
        assert report.issued == [] and billing.invoices(town) == []
        (hold,) = billing.holds(town)
        assert (hold.reason, hold.resolved_at, hold.period_start) == (
            "engagement_missing",
            None,
            billing.day(),
        )
        billing.run([town])  # tried again, still held: one hold, not two
        assert len(billing.holds(town)) == 1
        with resources.sessions().begin() as session:
            session.get_one(BillingProfile, town).engagement_number = "EJ-42"
        billing.run([town])
    (invoice,) = billing.invoices(town)
    assert invoice.buyer["engagement_number"] == "EJ-42"
    (hold,) = billing.holds(town)
    assert hold.resolved_at is not None


def test_an_invalid_siret_or_an_incomplete_coop_identity_holds(billing: Billing, settings: Settings) -> None:
    plan = billing.plan()
    wrong = billing.tenant(plan, siret="21690123100012")  # the check digit is off
    right = billing.tenant(plan)
    with clock.use(billing.clock()):
        billing.run([wrong])
        billing.run([right], settings=settings.replace(coop_iban=None))
    assert billing.invoices() == []
    assert [h.reason for h in billing.holds(wrong)] == ["siret_invalid"]
    assert [h.reason for h in billing.holds(right)] == ["seller_incomplete"]


def test_a_storage_outage_keeps_the_invoice_and_its_number_and_the_retry_stores_it(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    town = billing.tenant(billing.plan())
    storage = storage_from_settings(billing.settings)

    def out(*_args: Any, **_kwargs: Any) -> None:
        raise StorageUnavailable("storage out")

    with clock.use(billing.clock()):
        monkeypatch.setattr(LocalStorage, "put", out)
        billing.run([town], storage=storage)
        (invoice,) = billing.invoices(town)
        assert invoice.number == f"{billing.year}-000001"
        assert invoice.pdf_key is None and invoice.pdf_error == "storage: StorageUnavailable"
        monkeypatch.undo()
        assert documents.retry_missing(billing.resources.sessions(), storage, tenant_ids=[town]) == 1
    (invoice,) = billing.invoices(town)
    assert invoice.pdf_key == f"billing/{town}/{invoice.number}.pdf" and invoice.pdf_error is None
    assert storage.get(invoice.pdf_key).startswith(b"%PDF")


def test_a_change_of_plan_mid_year_credits_and_charges_to_the_cent(
    billing: Billing, resources: PlatformResources
) -> None:
    old, new = billing.plan(unit_price="0.25"), billing.plan(unit_price="0.37")
    town = billing.tenant(old)
    change = billing.day(7, 14)
    with clock.use(billing.clock()):
        billing.run([town])
        with resources.sessions().begin() as session:
            outcome = change_plan(session, town, new.id, change, settings=billing.settings)
        assert billing.run([town], today=change).issued == []  # the change's invoice is the period's
    first, credit, charge = billing.invoices(town)
    total = (billing.day(12, 31) - billing.day(1, 1)).days + 1
    used_days = (change - billing.day(1, 1)).days
    used = (Decimal("4105.00") * used_days / total).quantize(CENT, rounding=ROUND_HALF_UP)
    rest = (Decimal(16420) * Decimal("0.37") * (total - used_days) / total).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    assert (credit.kind, credit.credits_invoice_id) == (CREDIT_NOTE, first.id)
    assert credit.total_excl_vat == Decimal("4105.00") - used
    assert (credit.period_start, credit.period_end) == (change, billing.day(12, 31))
    assert (charge.kind, charge.total_excl_vat) == (INVOICE, rest)
    assert (charge.period_start, charge.period_end, charge.run_key) == (
        change,
        billing.day(12, 31),
        f"{town}:{change}",
    )
    assert first.total_excl_vat - credit.total_excl_vat + charge.total_excl_vat == used + rest
    assert [d.id for d in outcome.documents] == [credit.id, charge.id]
    with resources.sessions()() as session:
        rows = session.scalars(
            select(Subscription).where(Subscription.tenant_id == town).order_by(Subscription.starts_on)
        )
        assert [(s.plan_id, s.starts_on, s.ends_on) for s in rows] == [
            (old.id, billing.day(), change),
            (new.id, change, None),
        ]
        balance = session.scalar(select(balance_column()).where(Invoice.id == first.id))
    assert balance == first.total_incl_vat - credit.total_incl_vat
    # What the run and the change issued are Factur-X documents breaking no EN 16931 rule.
    for document, credited in ((first, None), (credit, first), (charge, None)):
        _name, xml = facturx.get_xml_from_pdf(documents.make_pdf(document, credited), check_xsd=True)
        assert schematron_failures(xml) == [], document.number


def test_a_portal_being_deleted_is_not_invoiced_even_on_demand(billing: Billing) -> None:
    town = billing.tenant(billing.plan())
    with billing.resources.admin_sessions().begin() as session:
        session.execute(update(Tenant).where(Tenant.id == town).values(status="deleting"))
    with clock.use(billing.clock()), billing.resources.sessions().begin() as session:
        assert run.bill_tenant(session, billing.settings, town, billing.day(3, 1)).issued == []
    assert billing.invoices(town) == []
