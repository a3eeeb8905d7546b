"""Issue 12, item 2: the console's invoice pages (list with held periods, one invoice, its Factur-X PDF,
a credit note, issuing on demand), and a tenant administrator's own invoices on its portal — never
another tenant's."""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import facturx
import pytest
from coop_support import staff_console
from invoicing_support import Billing, billing_kit
from litestar.testing import TestClient
from sqlalchemy import select, update

from bippop import clock
from bippop.app import create_app
from bippop.billing.models import CREDIT_NOTE, Invoice
from bippop.billing.services import documents
from bippop.billing.services.issuing import Draft, Line, issue
from bippop.config import Settings
from bippop.coop.models import AuditEntry
from bippop.runtime.resources import PlatformResources
from bippop.storage import LocalStorage, StorageUnavailable, storage_from_settings
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, host, log_in, make_person


@pytest.fixture
def billing(resources: PlatformResources, settings: Settings) -> Iterator[Billing]:
    yield from billing_kit(resources, settings)


def slug(tenant_id: uuid.UUID) -> str:
    return f"fac-{tenant_id.hex[:12]}"


def audited(resources: PlatformResources, action: str, target: str) -> list[AuditEntry]:
    with resources.sessions()() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
            )
        )


def test_the_list_the_invoice_and_its_facturx_pdf(billing: Billing, resources: PlatformResources) -> None:
    plan = billing.plan()
    town = billing.tenant(plan, service_code="SERV-1")
    held = billing.tenant(plan, engagement_required=True)
    storage = storage_from_settings(billing.settings)
    with clock.use(billing.clock()):  # not while signing in: the code's time is the real one
        billing.run([town, held], storage=storage)
    (invoice,) = billing.invoices(town)
    with staff_console(billing.settings, resources, role="coop_operator") as console:
        listing = console.get(f"/factures?collectivite={slug(town)}")
        assert listing.status_code == 200
        assert invoice.number in listing.text and "4,926.00" in listing.text and "Due" in listing.text
        holds = console.get(f"/factures?collectivite={slug(held)}").text
        assert (
            "requires an engagement number" in holds and "Ask the council for its engagement number" in holds
        )
        assert console.get("/factures?statut=paid&collectivite=" + slug(town)).text.count(invoice.number) == 0
        page = console.get(f"/factures/{invoice.id}")
        assert page.status_code == 200
        for shown in ("SERV-1", "21690123100011", "123456782", "4,105.00", "Abonnement Bip Pop"):
            assert shown in page.text
        assert f'action="/factures/{invoice.id}/paiements"' in page.text and 'name="paid_on"' in page.text
        assert f'href="/factures/{invoice.id}/chorus"' in page.text  # its confirmation page first
        pdf = console.get(f"/factures/{invoice.id}/pdf")
        assert console.get(f"/factures/{uuid.uuid4()}").status_code == 404
        assert console.get(f"/factures/{uuid.uuid4()}/pdf").status_code == 404
    assert pdf.status_code == 200 and pdf.headers["content-type"].startswith("application/pdf")
    filename, xml = facturx.get_facturx_xml_from_pdf(pdf.content, check_xsd=False)
    assert filename == "factur-x.xml"
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert invoice.number.encode() in xml and b"SERV-1" in xml


def test_issuing_on_demand_then_a_credit_note_both_confirmed_and_audited(
    billing: Billing, resources: PlatformResources
) -> None:
    # The console issues today's periods, numbered in the current year.
    town = billing.tenant(billing.plan(), since=clock.today().replace(month=1, day=1))
    with staff_console(billing.settings, resources) as console:
        confirm = console.get(f"/factures/emettre?collectivite={slug(town)}")
        assert confirm.status_code == 200 and "Issue the invoices" in confirm.text
        assert billing.invoices(town) == []  # the confirmation issues nothing
        done = console.post("/factures/emettre", {"collectivite": slug(town)})
        assert done.status_code == 303 and "fait=issued" in done.headers["location"]
        (invoice,) = billing.invoices(town)
        assert invoice.pdf_key == f"billing/{town}/{invoice.number}.pdf"
        assert [e.staff_id for e in audited(resources, "invoice.issue", str(invoice.id))] == [
            console.staff_id
        ]
        assert (
            "Nothing to issue"
            in console.get(
                console.post("/factures/emettre", {"collectivite": slug(town)}).headers["location"]
            ).text
        )
        assert console.post("/factures/emettre", {"collectivite": "nobody-here"}).status_code == 404

        assert "cannot be undone" in console.get(f"/factures/{invoice.id}/avoir").text
        credited = console.post(f"/factures/{invoice.id}/avoir")
        assert credited.status_code == 303
        invoice, note = billing.invoices(town)
        assert credited.headers["location"] == f"/factures/{note.id}?fait=credit_note"
        assert (note.kind, note.credits_invoice_id, note.total_incl_vat) == (
            CREDIT_NOTE,
            invoice.id,
            invoice.total_incl_vat,
        )
        assert note.pdf_key is not None
        note_page = console.get(credited.headers["location"]).text
        assert f"Credit note {note.number}" in note_page and "The credit note is issued." in note_page
        assert invoice.number in note_page  # the invoice it credits
        assert len(audited(resources, "invoice.credit_note", str(invoice.id))) == 1
        again = console.post(f"/factures/{invoice.id}/avoir")  # a second click: the same credit note
        assert again.headers["location"] == credited.headers["location"]
        assert "credited already" in console.get(f"/factures/{invoice.id}/avoir").text
        assert console.post(f"/factures/{note.id}/avoir").status_code == 400  # a credit note is not credited
        assert len(billing.invoices(town)) == 2
        assert "Credited" in console.get(f"/factures/{invoice.id}").text


def test_a_missing_pdf_says_so_and_is_generated_again(
    billing: Billing, resources: PlatformResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    town = billing.tenant(billing.plan())
    with clock.use(billing.clock()):
        billing.run([town])  # no storage: the PDF is left for later
    (invoice,) = billing.invoices(town)
    with staff_console(billing.settings, resources) as console:
        missing = console.get(f"/factures/{invoice.id}/pdf")
        assert missing.status_code == 404 and "Generate the PDF again" in missing.text
        assert console.post(f"/factures/{invoice.id}/pdf").headers["location"].endswith("fait=pdf")
        first = console.get(f"/factures/{invoice.id}/pdf").content
        assert first.startswith(b"%PDF")
        key = stored_key(billing, invoice.id)
        storage = storage_from_settings(billing.settings)
        stamp = os.stat(storage.root / key).st_mtime_ns  # type: ignore[attr-defined]

        # A stored PDF is never made again: a second click leaves the file as it is.
        assert console.post(f"/factures/{invoice.id}/pdf").headers["location"].endswith("fait=pdf")
        assert os.stat(storage.root / key).st_mtime_ns == stamp  # type: ignore[attr-defined]
        # The storage out while « generating again »: the key already recorded stays.
        with monkeypatch.context() as patched:
            patched.setattr(LocalStorage, "exists", unavailable)
            failed = console.post(f"/factures/{invoice.id}/pdf")
            assert failed.headers["location"].endswith("fait=pdf_failed")
        assert stored_key(billing, invoice.id) == key
        assert console.get(f"/factures/{invoice.id}/pdf").content == first
        # A file lost from the storage, and making it again fails: the key stays, the failure is
        # recorded, and the retry job takes the invoice up again and makes it.
        storage.delete(key)
        assert console.get(f"/factures/{invoice.id}/pdf").status_code == 404
        with monkeypatch.context() as patched:
            patched.setattr(LocalStorage, "put", unavailable)
            assert console.post(f"/factures/{invoice.id}/pdf").headers["location"].endswith("fait=pdf_failed")
        with billing.resources.sessions()() as session:
            failed_one = session.get_one(Invoice, invoice.id)
            assert (failed_one.pdf_key, failed_one.pdf_error) == (key, "storage: StorageUnavailable")
        assert documents.retry_missing(billing.resources.sessions(), storage, tenant_ids=[town]) == 1
        assert console.get(f"/factures/{invoice.id}/pdf").content.startswith(b"%PDF")
    with billing.resources.sessions()() as session:
        remade = session.get_one(Invoice, invoice.id)
        assert (remade.pdf_key, remade.pdf_error) == (key, None)


def stored_key(billing: Billing, invoice_id: uuid.UUID) -> str | None:
    with billing.resources.sessions()() as session:
        return session.get_one(Invoice, invoice_id).pdf_key


def unavailable(*_args: Any, **_kwargs: Any) -> bool:
    raise StorageUnavailable("storage out")


# The tenant administrator's portal -------------------------------------------------------------------


def issue_for(resources: PlatformResources, settings: Settings, tenant: TenantRef) -> Invoice:
    draft = Draft(
        tenant_id=tenant.id,
        buyer={"name": tenant.name, "siret": "21690123100011"},
        seller={
            "name": "Bip Pop SCIC",
            "siren": "123456782",
            "vat_number": "FR11123456782",
            "iban": "FR7630006000011234567890189",
        },
        lines=[Line("Abonnement", Decimal(1), Decimal("100.00"), Decimal("20.00"))],
        period_start=datetime.date(2027, 1, 1),
        period_end=datetime.date(2027, 12, 31),
    )
    with resources.sessions().begin() as session:
        invoice_id = issue(session, draft).id
    documents.store_pdf(resources.sessions(), storage_from_settings(settings), invoice_id)
    with resources.sessions()() as session:
        return session.get_one(Invoice, invoice_id)


@pytest.fixture
def portal(settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(
        create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}
    ) as client:
        yield client


def test_a_tenant_administrator_downloads_its_own_invoices_and_no_other(
    portal: TestClient[Any],
    resources: PlatformResources,
    settings: Settings,
    tenant: TenantRef,
    other_tenant: TenantRef,
) -> None:
    own, theirs = issue_for(resources, settings, tenant), issue_for(resources, settings, other_tenant)
    _id, email, secret = make_person(resources, tenant, ["tenant_admin"], totp=True)
    log_in(portal, tenant.slug, email, secret)
    listing = portal.get("/gestion/factures", headers=host(tenant.slug))
    assert listing.status_code == 200
    assert own.number in listing.text and theirs.number not in listing.text
    pdf = portal.get(f"/gestion/factures/{own.id}/pdf", headers=host(tenant.slug))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert portal.get(f"/gestion/factures/{theirs.id}/pdf", headers=host(tenant.slug)).status_code == 404
    # A key pointing into another tenant's folder is never served, even if recorded on the invoice.
    with resources.admin_sessions().begin() as session:
        session.execute(update(Invoice).where(Invoice.id == own.id).values(pdf_key=theirs.pdf_key))
    assert portal.get(f"/gestion/factures/{own.id}/pdf", headers=host(tenant.slug)).status_code == 404


def test_the_portal_page_is_for_administrators_only(
    portal: TestClient[Any], resources: PlatformResources, tenant: TenantRef
) -> None:
    _id, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    log_in(portal, tenant.slug, email, secret)
    assert portal.get("/gestion/factures", headers=host(tenant.slug)).status_code == 403
