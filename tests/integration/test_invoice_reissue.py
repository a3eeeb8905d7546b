"""Issue 12: « corrected by a credit note and a new invoice ». Chorus Pro rejects an invoice (its
engagement number was wrong); the co-op credits it in full, corrects the billing details, and issues
the corrected invoice from the console: the same period and lines, the buyer as it is now, the next
number, once however often it is submitted — and never for an invoice that still stands."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from coop_support import staff_console
from invoicing_support import Billing, billing_kit
from sqlalchemy import select, update

from bippop import clock
from bippop.billing.facturx import cii_xml
from bippop.billing.models import CREDIT_NOTE, INVOICE, BillingProfile, Invoice, Plan
from bippop.billing.services import reissue
from bippop.config import Settings
from bippop.coop.models import AuditEntry
from bippop.runtime.resources import PlatformResources
from bippop.storage import storage_from_settings
from facturx_check import schematron_failures
from support import HandClock


class IssuingClock(HandClock):
    """The documents' dates in the test's own year (its numbers start afresh), the signed-in session's
    expiry on the system's time (``app.state.clock`` reads the seconds)."""

    def __call__(self) -> float:
        return clock.SYSTEM()


@pytest.fixture
def billing(resources: PlatformResources, settings: Settings) -> Iterator[Billing]:
    yield from billing_kit(resources, settings)


def audited(resources: PlatformResources, action: str, target: str) -> list[AuditEntry]:
    with resources.sessions()() as session:
        query = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
        return list(session.scalars(query))


def set_engagement(resources: PlatformResources, tenant_id: uuid.UUID, number: str | None) -> None:
    with resources.admin_sessions().begin() as session:
        session.execute(
            update(BillingProfile)
            .where(BillingProfile.tenant_id == tenant_id)
            .values(engagement_number=number)
        )


def test_a_rejected_invoice_is_credited_then_issued_again_with_the_new_engagement_number(
    billing: Billing, resources: PlatformResources
) -> None:
    plan = billing.plan()
    town = billing.tenant(
        plan, engagement_required=True, engagement_number="EJ-FAUX-1", service_code="SERV-1"
    )
    with clock.use(billing.clock(3, 1)):
        billing.run([town], storage=storage_from_settings(billing.settings))
    (invoice,) = billing.invoices(town)
    assert invoice.buyer["engagement_number"] == "EJ-FAUX-1"
    # The console issues in the test's own year.
    issuing_clock = IssuingClock(billing.clock(3, 10).at)
    with (
        staff_console(billing.settings, resources, role="coop_operator") as console,
        clock.use(issuing_clock),
    ):
        refused = console.get(f"/factures/{invoice.id}/reemettre")
        assert refused.status_code == 200 and "not credited in full" in refused.text
        assert 'action="/factures/' not in refused.text.split("<h1>", 1)[1]  # no button
        assert console.post(f"/factures/{invoice.id}/reemettre").status_code == 400
        assert console.post(f"/factures/{invoice.id}/avoir").status_code == 303
        _invoice, note = billing.invoices(town)
        assert (note.kind, note.total_incl_vat) == (CREDIT_NOTE, invoice.total_incl_vat)
        note_page = console.get(f"/factures/{note.id}").text
        assert f'href="/factures/{invoice.id}/reemettre"' in note_page  # the link from the credit note
        assert f'href="/factures/{invoice.id}/reemettre"' in console.get(f"/factures/{invoice.id}").text

        other = billing.plan()
        with resources.admin_sessions().begin() as session:
            session.execute(update(Plan).where(Plan.id == other.id).values(archived_at=None))
        change = {"plan": str(other.id), "day": str(billing.day(3, 10))}
        moved = console.post(f"/collectivites/fac-{town.hex[:12]}/offre", change)
        assert moved.status_code == 400 and "issue its corrected invoice first" in moved.text

        set_engagement(resources, town, None)  # the council has not given the right one yet
        held = console.get(f"/factures/{invoice.id}/reemettre")
        assert (
            "requires an engagement number" in held.text
            and "Issue the corrected invoice</button>" not in held.text
        )
        assert console.post(f"/factures/{invoice.id}/reemettre").status_code == 400
        assert len(billing.invoices(town)) == 2

        set_engagement(resources, town, "EJ-2100-0042")
        confirm = console.get(f"/factures/{invoice.id}/reemettre")
        assert confirm.status_code == 200 and "EJ-2100-0042" in confirm.text and "EJ-FAUX-1" in confirm.text
        assert invoice.lines[0]["label"] in confirm.text and "4,926.00" in confirm.text
        assert len(billing.invoices(town)) == 2  # the confirmation issues nothing
        done = console.post(f"/factures/{invoice.id}/reemettre")
        again = console.post(f"/factures/{invoice.id}/reemettre")  # a double click
        assert done.status_code == again.status_code == 303
        assert done.headers["location"] == again.headers["location"]
        assert "The corrected invoice is issued." in console.get(done.headers["location"]).text
        assert "is corrected by invoice" in console.get(f"/factures/{invoice.id}").text

    first, note, corrected = billing.invoices(town)
    assert done.headers["location"] == f"/factures/{corrected.id}?fait=reissued"
    assert [first.sequence + 1, first.sequence + 2] == [note.sequence, corrected.sequence]
    assert (corrected.kind, corrected.run_key) == (INVOICE, f"{town}:{billing.day()}:r1")
    assert (corrected.period_start, corrected.period_end) == (first.period_start, first.period_end)
    assert corrected.lines == first.lines and corrected.total_incl_vat == first.total_incl_vat
    assert corrected.buyer == {**first.buyer, "engagement_number": "EJ-2100-0042"}
    assert corrected.pdf_key == f"billing/{town}/{corrected.number}.pdf"
    xml = cii_xml(corrected)
    assert b"EJ-2100-0042" in xml and b"EJ-FAUX-1" not in xml
    assert schematron_failures(xml) == []
    (entry,) = audited(resources, "invoice.reissue", str(first.id))
    assert entry.details == {
        "number": corrected.number,
        "original": first.number,
        "amount": str(corrected.total_incl_vat),
    }
    # The monthly run still sees the period as invoiced: nothing more is issued.
    with clock.use(billing.clock(4, 1)):
        billing.run([town], billing.day(4, 1))
    assert len(billing.invoices(town)) == 3


def test_only_a_period_invoice_credited_in_full_is_issued_again(
    billing: Billing, resources: PlatformResources
) -> None:
    town = billing.tenant(billing.plan())
    with clock.use(billing.clock(3, 1)):
        billing.run([town])
    (invoice,) = billing.invoices(town)
    with resources.sessions().begin() as session:
        planned = reissue.reissue(session, billing.settings, invoice.id)
        assert (planned.refusal, planned.issued) == (reissue.NOT_CREDITED, None)
    loose = Invoice(tenant_id=town, kind=INVOICE, run_key=None, period_start=invoice.period_start)
    assert reissue.reissue_key(loose) is None  # an invoice issued by hand: no period of the run
    with resources.sessions()() as session:
        assert reissue.plan(session, billing.settings, loose).refusal == reissue.NOT_PERIOD
    with staff_console(billing.settings, resources) as console:
        assert console.get(f"/factures/{uuid.uuid4()}/reemettre").status_code == 404
        assert console.post(f"/factures/{uuid.uuid4()}/reemettre").status_code == 404
        assert "reemettre" not in console.get(f"/factures/{invoice.id}").text
    assert len(billing.invoices(town)) == 1
    assert audited(resources, "invoice.reissue", str(invoice.id)) == []
