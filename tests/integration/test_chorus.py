"""Issue 12, item 4: invoices reach Chorus Pro. Through the API (a fake Chorus Pro in a thread): a
deposit then its status tracked (deposited, rejected with Chorus Pro's reason, paid), an unavailable
Chorus Pro retried, bad credentials failing with a clear reason; by hand: a monthly export (ZIP of the
Factur-X PDFs and a manifest) leaving out an invoice without its required engagement number, and the
operator's marks. With no API settings the API is off, and the console says so."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import facturx
import httpx
import pytest
from coop_support import staff_console
from sqlalchemy import select, text

from bippop import clock
from bippop.billing.chorus import submissions
from bippop.billing.chorus.client import ChorusClient, ChorusConfig, forget_tokens
from bippop.billing.chorus.jobs import CHECK_EVERY, chorus_deposit, chorus_sweep, due_checks, due_deposits
from bippop.billing.facturx import invoice_pdf
from bippop.billing.models import Invoice, InvoiceSubmission
from bippop.billing.services.issuing import Draft, Line, issue
from bippop.config import Settings
from bippop.coop.models import AuditEntry
from bippop.runtime.resources import PlatformResources
from bippop.storage import storage_from_settings
from chorus_fake import FakeChorus
from support import HandClock

SELLER: dict[str, Any] = {
    "name": "Bip Pop SCIC",
    "siren": "123456782",
    "vat_number": "FR11123456782",
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "address": {"line1": "12 rue des Tilleuls", "postcode": "75011", "city": "Paris"},
}
BUYER: dict[str, Any] = {
    "name": "Commune de Test",
    "siret": "21690123100011",
    "service_code": "SERV-SOLIDARITE",
    "engagement_number": "EJ-2027-0042",
    "address": {"line1": "1 place de la Mairie", "postcode": "69001", "city": "Lyon"},
}


@pytest.fixture
def fake() -> Iterator[FakeChorus]:
    forget_tokens()
    with FakeChorus() as server:
        yield server
    forget_tokens()


@pytest.fixture
def day() -> HandClock:
    """A July of its own for each test (other tests' invoices live in other months), installed only
    around the billing calls (signing in on the console needs the real time)."""
    year = 2100 + uuid.uuid4().int % 800
    return HandClock(datetime.datetime(year, 7, 10, 9, tzinfo=datetime.UTC))


def due(resources: PlatformResources, day: HandClock) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(the invoices the job would deposit, the submissions it would check) at ``day``."""
    with clock.use(day), resources.sessions()() as session:
        return due_deposits(session), due_checks(session)


@pytest.fixture(scope="module")
def stored_pdf(settings: Settings) -> str:
    """One Factur-X PDF in the storage, which the tests' invoices point at (rendering is slow)."""
    with clock.use(HandClock(datetime.datetime(2099, 1, 5, tzinfo=datetime.UTC))):
        invoice = Invoice(
            id=uuid.uuid4(), tenant_id=uuid.uuid4(), kind="invoice", number="2099-000001", year=2099,
            sequence=1, issued_at=clock.now(), issue_date=datetime.date(2099, 1, 5),
            due_date=datetime.date(2099, 2, 4), currency="EUR", total_excl_vat=Decimal("100.00"),
            vat_total=Decimal("20.00"), total_incl_vat=Decimal("120.00"),
            lines=[Line("Abonnement", Decimal(1), Decimal("100.00"), Decimal("20.00")).as_json()],
            buyer=BUYER, seller=SELLER,
        )  # fmt: skip
    key = f"tests/chorus/{uuid.uuid4()}.pdf"
    storage_from_settings(settings).put(key, invoice_pdf(invoice), "application/pdf")
    return key


def make_invoice(resources: PlatformResources, day: HandClock, pdf_key: str | None, **buyer: Any) -> Invoice:
    draft = Draft(
        tenant_id=uuid.uuid4(),
        buyer={**BUYER, **buyer},
        seller=SELLER,
        lines=[Line("Abonnement annuel", Decimal(1), Decimal("4105.00"), Decimal("20.00"))],
    )
    with clock.use(day), resources.sessions().begin() as session:
        invoice = issue(session, draft)
        if pdf_key:
            session.execute(
                text("update platform.invoices set pdf_key = :k where id = :id"),
                {"k": pdf_key, "id": invoice.id},
            )
        session.expunge(invoice)
    return invoice


def deposit(resources: PlatformResources, day: HandClock, config: ChorusConfig, invoice_id: uuid.UUID) -> Any:
    storage = storage_from_settings(resources.settings)
    with clock.use(day), ChorusClient(config) as client, resources.sessions().begin() as session:
        outcome = submissions.deposit_one(session, client, storage, invoice_id)
        if isinstance(outcome, InvoiceSubmission):
            session.expunge(outcome)
        return outcome


def poll(resources: PlatformResources, day: HandClock, config: ChorusConfig, submission_id: uuid.UUID) -> Any:
    with clock.use(day), ChorusClient(config) as client, resources.sessions().begin() as session:
        found = submissions.poll_one(session, client, submission_id)
        if found is not None:
            session.expunge(found)
        return found


def rows_of(resources: PlatformResources, invoice_id: uuid.UUID) -> list[InvoiceSubmission]:
    with resources.sessions()() as session:
        return list(
            session.scalars(select(InvoiceSubmission).where(InvoiceSubmission.invoice_id == invoice_id))
        )


def test_without_its_settings_the_api_is_off_and_the_console_says_so(
    settings: Settings, resources: PlatformResources, day: HandClock
) -> None:
    assert ChorusConfig.from_settings(settings) is None
    invoice = make_invoice(resources, day, None)
    with staff_console(settings, resources) as console:
        page = console.get("/chorus")
        assert page.status_code == 200 and "The API is off" in page.text
        confirm = console.get(f"/factures/{invoice.id}/chorus")
        assert confirm.status_code == 200 and "The API is off" in confirm.text
        refused = console.post(f"/factures/{invoice.id}/chorus")
        assert refused.status_code == 400
        assert console.get(f"/factures/{uuid.uuid4()}/chorus").status_code == 404
    assert rows_of(resources, invoice.id) == []


def test_a_deposit_is_checked_until_paid_with_one_token(
    settings: Settings, resources: PlatformResources, fake: FakeChorus, day: HandClock, stored_pdf: str
) -> None:
    config = ChorusConfig.from_settings(fake.settings(settings))
    assert config is not None
    invoice = make_invoice(resources, day, stored_pdf)
    assert invoice.id in due(resources, day)[0]
    submission = deposit(resources, day, config, invoice.id)
    assert isinstance(submission, InvoiceSubmission)
    assert (submission.channel, submission.status) == ("api", "deposited")
    (sent,) = fake.deposits
    assert submission.remote_id == sent.flux_id and sent.filename == f"{invoice.number}.pdf"
    assert b"CrossIndustryInvoice" in sent.xml
    deposits, checks = due(resources, day)
    assert invoice.id not in deposits and submission.id not in checks  # never twice; checked later
    assert deposit(resources, day, config, invoice.id) == submissions.ALREADY_SUBMITTED

    checked = poll(resources, day, config, submission.id)  # not integrated yet: nothing known
    assert checked is not None and checked.status == "deposited"
    fake.statuses[invoice.number] = ("MISE_A_DISPOSITION", None)
    assert poll(resources, day, config, submission.id).status == "deposited"
    assert submission.id not in due(resources, day)[1]  # checked a moment ago
    day.advance(seconds=CHECK_EVERY.total_seconds() + 1)
    assert submission.id in due(resources, day)[1]
    fake.statuses[invoice.number] = ("MISE_EN_PAIEMENT", None)
    assert poll(resources, day, config, submission.id).status == "paid"
    assert submission.id not in due(resources, day)[1]  # paid is final
    assert fake.searches[-1] == {"idFournisseur": "26073617", "numeroFacture": invoice.number}
    assert len(fake.tokens) == 1  # the token is kept until it expires


def test_a_rejection_and_its_reason_show_in_the_console(
    settings: Settings, resources: PlatformResources, fake: FakeChorus, day: HandClock, stored_pdf: str
) -> None:
    local = fake.settings(settings)
    config = ChorusConfig.from_settings(local)
    assert config is not None
    invoice = make_invoice(resources, day, stored_pdf)
    with staff_console(local, resources) as console:
        confirm = console.get(f"/factures/{invoice.id}/chorus")
        assert (
            confirm.status_code == 200 and f"Deposit invoice {invoice.number} on Chorus Pro?" in confirm.text
        )
        done = console.post(f"/factures/{invoice.id}/chorus")
        assert done.status_code == 303 and done.headers["location"] == "/chorus?fait=deposited"
        (submission,) = rows_of(resources, invoice.id)
        assert submission.status == "deposited" and len(fake.deposits) == 1
        again = console.post(f"/factures/{invoice.id}/chorus")
        assert again.status_code == 409 and "already been sent" in again.text
        fake.statuses[invoice.number] = ("REJETEE", "Code service SERV-SOLIDARITE inconnu du destinataire")
        assert poll(resources, day, config, submission.id).status == "rejected"
        page = console.get("/chorus")
        assert "Code service SERV-SOLIDARITE inconnu du destinataire" in page.text
        assert "Correct it with a credit note and a new invoice" in page.text
        assert f'href="/factures/{invoice.id}"' in page.text
    with resources.sessions()() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.target == str(invoice.id))).all()
        assert [(e.action, e.details["status"]) for e in entries] == [("chorus.deposit", "deposited")]
        assert entries[0].staff_id == console.staff_id


def test_a_flux_rejected_before_integration_is_rejected_with_its_reason(
    settings: Settings, resources: PlatformResources, fake: FakeChorus, day: HandClock, stored_pdf: str
) -> None:
    config = ChorusConfig.from_settings(fake.settings(settings))
    assert config is not None
    invoice = make_invoice(resources, day, stored_pdf)
    submission = deposit(resources, day, config, invoice.id)
    fake.flux_states[submission.remote_id] = ("IN_REJETE", "SIRET destinataire inconnu")
    checked = poll(resources, day, config, submission.id)
    assert checked is not None and (checked.status, checked.reason) == (
        "rejected",
        "SIRET destinataire inconnu",
    )


def test_chorus_unavailable_leaves_the_deposit_pending_and_it_is_tried_again(
    settings: Settings, resources: PlatformResources, fake: FakeChorus, day: HandClock, stored_pdf: str
) -> None:
    config = ChorusConfig.from_settings(fake.settings(settings))
    assert config is not None
    invoice = make_invoice(resources, day, stored_pdf)
    fake.fail_deposits = [503]
    first = deposit(resources, day, config, invoice.id)
    assert (first.status, first.remote_id) == ("pending", None) and "503" in first.reason
    assert invoice.id not in due(resources, day)[0]  # not at once
    day.advance(minutes=11)
    assert invoice.id in due(resources, day)[0]
    second = deposit(resources, day, config, invoice.id)
    assert second.id == first.id and second.status == "deposited" and second.reason is None
    assert [row.status for row in rows_of(resources, invoice.id)] == ["deposited"]


def test_bad_credentials_fail_with_a_clear_reason_and_are_not_retried(
    settings: Settings, resources: PlatformResources, fake: FakeChorus, day: HandClock, stored_pdf: str
) -> None:
    config = ChorusConfig.from_settings(fake.settings(settings, chorus_client_secret="wrong"))
    assert config is not None
    invoice = make_invoice(resources, day, stored_pdf)
    failed = deposit(resources, day, config, invoice.id)
    assert failed.status == "failed" and "Bad client credentials" in failed.reason
    assert fake.deposits == []
    day.advance(hours=2)
    assert invoice.id not in due(resources, day)[0]


def test_the_monthly_export_holds_the_pdfs_and_a_manifest_and_leaves_out_a_missing_engagement(
    settings: Settings, resources: PlatformResources, day: HandClock, stored_pdf: str
) -> None:
    ready = make_invoice(resources, day, stored_pdf)
    rendered = make_invoice(resources, day, None, service_code=None)  # no stored PDF: rendered for the export
    missing = make_invoice(resources, day, stored_pdf, engagement_number=None, engagement_required=True)
    month = f"{day.now():%Y-%m}"
    deposits, _checks = due(resources, day)
    assert ready.id in deposits and missing.id not in deposits  # the job leaves it out too
    with staff_console(settings, resources) as console:
        preview = console.get(f"/chorus/export?mois={month}")
        assert preview.status_code == 200
        assert missing.number in preview.text and "requires an engagement number" in preview.text
        assert console.get("/chorus/export?mois=juillet").status_code == 400
        download = console.post("/chorus/export", {"mois": month})
        assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(download.content))
        names = set(archive.namelist())
        assert {f"{ready.number}.pdf", f"{rendered.number}.pdf", "manifeste.csv", "exclues.csv"} <= names
        assert f"{missing.number}.pdf" not in names
        name, xml = facturx.get_xml_from_pdf(archive.read(f"{rendered.number}.pdf"), check_xsd=False)
        assert name == "factur-x.xml" and rendered.number.encode() in xml
        manifest = list(
            csv.DictReader(io.StringIO(archive.read("manifeste.csv").decode("utf-8-sig")), delimiter=";")
        )
        row = next(item for item in manifest if item["numero"] == ready.number)
        assert (row["siret_acheteur"], row["code_service"], row["numero_engagement"]) == (
            "21690123100011", "SERV-SOLIDARITE", "EJ-2027-0042",
        )  # fmt: skip
        assert (row["total_ht"], row["total_tva"], row["total_ttc"]) == ("4105.00", "821.00", "4926.00")
        assert row["date_echeance"] == ready.due_date.isoformat() and row["fichier"] == f"{ready.number}.pdf"
        assert missing.number in archive.read("exclues.csv").decode("utf-8-sig")
        assert console.post("/chorus/export", {"mois": month}).status_code == 200  # again: no second row
        chosen = console.get(f"/chorus/export?facture={rendered.id}")
        assert (
            chosen.status_code == 200 and rendered.number in chosen.text and ready.number not in chosen.text
        )
        assert console.get("/chorus/export?facture=pas-un-id").status_code == 400
        (exported,) = rows_of(resources, ready.id)
        assert (exported.channel, exported.status) == ("export", "pending")
        assert rows_of(resources, missing.id) == []

        path = f"/chorus/depots/{exported.id}"
        assert console.get(path).status_code == 200
        unexplained = console.post(path, {"status": "rejected", "reason": ""})
        assert unexplained.status_code == 400 and 'id="error-reason"' in unexplained.text
        marked = console.post(path, {"status": "rejected", "reason": "Numéro d'engagement inconnu"})
        assert marked.status_code == 303
        page = console.get("/chorus")
        assert "Numéro d&#39;engagement inconnu" in page.text and "Correct it with a credit note" in page.text
        assert console.post(path, {"status": "paid", "reason": ""}).status_code == 400  # final
        assert console.get(f"/chorus/depots/{uuid.uuid4()}").status_code == 404
    assert ready.id not in due(resources, day)[0]  # exported: not deposited through the API as well
    (exported,) = rows_of(resources, ready.id)
    assert (exported.status, exported.reason) == ("rejected", "Numéro d'engagement inconnu")
    with resources.sessions()() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.staff_id == console.staff_id, AuditEntry.action.like("chorus.%"))
            .order_by(AuditEntry.at)
        ).all()
    assert actions == ["chorus.export", "chorus.export", "chorus.mark"]
    assert all(row.channel == "export" for row in rows_of(resources, rendered.id))


def test_a_timeout_leaves_the_deposit_pending_and_the_job_does_nothing_while_the_api_is_off(
    settings: Settings, resources: PlatformResources, fake: FakeChorus, day: HandClock, stored_pdf: str
) -> None:
    config = ChorusConfig.from_settings(fake.settings(settings))
    assert config is not None
    invoice = make_invoice(resources, day, stored_pdf)

    def silent(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    http = httpx.Client(transport=httpx.MockTransport(silent))
    storage = storage_from_settings(settings)
    with clock.use(day), ChorusClient(config, http) as client, resources.sessions().begin() as session:
        outcome = submissions.deposit_one(session, client, storage, invoice.id)
        assert isinstance(outcome, InvoiceSubmission)
        assert (outcome.status, outcome.remote_id, outcome.reason) == (
            "pending", None, "Chorus Pro did not answer in time",
        )  # fmt: skip
    chorus_sweep.fn()  # the process's settings have no API: nothing is enqueued nor deposited
    chorus_deposit.fn(str(invoice.id))
    assert [row.status for row in rows_of(resources, invoice.id)] == ["pending"] and fake.deposits == []
