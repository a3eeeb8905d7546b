"""The co-op console and billing in a real browser, in French (issue #12). A staff member signs in with a
password and an authenticator code, finds a council by its département, suspends and reactivates it
(each through its confirmation page), creates a plan, issues the council's invoice, downloads its
Factur-X PDF (valid against the EN 16931 schematron) and records its payment in full; then the
council's administrator signs in on the council's own site and downloads the same invoice. axe-core
checks every page on the way, and the invoices list and the council's page at 320 px."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import facturx
import pyotp
import pytest
from sqlalchemy import select, update

from bippop import clock
from bippop.billing.models import BillingProfile, Invoice, Payment, Plan
from bippop.billing.services import documents, run
from bippop.collectivities import catalogue
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.storage import storage_from_settings
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Tenant
from bippop.web.i18n import translations
from e2e.accessibility import assert_accessible
from e2e.conftest import serving
from facturx_check import schematron_failures
from integration.coop_support import STAFF_PASSWORD, make_staff
from integration.invoicing_support import COOP_IDENTITY, SIRET
from support import DEFAULT_PASSWORD, free_commune_code, make_person, make_tenant, totp_now

pytestmark = pytest.mark.e2e

fr = translations("fr").gettext

WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll('main *, header *, footer *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className)"""


@dataclass(frozen=True)
class Council:
    ref: TenantRef
    departement: str


@pytest.fixture(scope="module")
def coop_settings(settings: Settings) -> Settings:
    return settings.replace(**COOP_IDENTITY)  # a seller complete enough to invoice


@pytest.fixture(scope="module")
def billing_server(coop_settings: Settings) -> Iterator[str]:
    with serving(coop_settings) as address:
        yield address


@pytest.fixture(scope="module")
def council(settings: Settings, resources: PlatformResources) -> Council:
    """A commune with a real INSEE code, provisioned ten days ago, on a flat yearly plan."""
    code = free_commune_code(settings)
    departement = catalogue().by_code[("commune", code)].departement
    tag = uuid.uuid4().hex[:6]
    ref = make_tenant(settings, f"parcours-{tag}", f"Commune du parcours {tag}", code=code)
    plan = Plan(
        id=uuid.uuid4(),
        code=f"forfait-{tag}",
        name="Forfait du parcours",
        kind="flat",
        period="yearly",
        flat_price=Decimal("1200.00"),
        vat_rate=Decimal("20.00"),
    )
    ten_days_ago = clock.now() - datetime.timedelta(days=10)  # its first period has begun, in any time zone
    with resources.admin_sessions().begin() as session:
        session.add(plan)
        session.flush()
        session.execute(update(Tenant).where(Tenant.id == ref.id).values(provisioned_at=ten_days_ago))
        session.add(
            BillingProfile(
                tenant_id=ref.id,
                plan_id=plan.id,
                population=1000,
                legal_name=f"Commune du parcours {tag}",
                siret=SIRET,
                contact_name="Camille Compta",
                contact_email="compta@example.org",
            )
        )
    return Council(ref, departement)


def invoices_of(resources: PlatformResources, tenant_id: uuid.UUID) -> list[Invoice]:
    with resources.sessions()() as session:
        return list(session.scalars(select(Invoice).where(Invoice.tenant_id == tenant_id)))


def assert_no_sideways_scroll(page: Any, what: str) -> None:
    """At 320 CSS pixels (WCAG 1.4.10), the page itself never scrolls sideways."""
    page.set_viewport_size({"width": 320, "height": 800})
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate(WIDER_THAN_THE_SCREEN) if width[0] > width[1] else []
    page.set_viewport_size({"width": 1280, "height": 800})
    assert width[0] <= width[1], (what, width, wide)


def submit(page: Any, form: str) -> None:
    """The submit button of the form whose action is ``form``, pressed with the keyboard."""
    button = page.locator(f"form[action='{form}'] button[type=submit]")
    button.focus()
    button.press("Enter")


def invoice_status(page: Any) -> str:
    """What the invoice page's summary says of its status."""
    status = f"//dl[@class='summary']/dt[normalize-space()='{fr('Status')}']/following-sibling::dd[1]"
    return str(page.locator(f"xpath={status}").inner_text()).strip()


def check_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF")
    name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml"
    assert not schematron_failures(xml)


def test_staff_suspends_reactivates_plans_invoices_and_records_payment(
    browser: Any,
    billing_server: str,
    coop_settings: Settings,
    resources: PlatformResources,
    council: Council,
    tmp_path: Path,
) -> None:
    staff, secret = make_staff(resources, coop_settings, role="coop_admin")
    slug = council.ref.slug
    base = f"http://coop.{billing_server}"
    context = browser.new_context(locale="fr-FR", accept_downloads=True)
    page = context.new_page()

    # Sign in: password, then the authenticator's code.
    page.goto(f"{base}/connexion")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.locator("#field-email").fill(staff.email)
    page.locator("#field-password").fill(STAFF_PASSWORD)
    page.locator("#field-password").press("Enter")
    page.wait_for_url("**/connexion/code")
    page.locator("#field-code").fill(pyotp.TOTP(secret).now())
    page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/")
    assert_accessible(page, "tenants list")

    # The council, found by its département with the filter form.
    page.locator("#field-departement").select_option(council.departement)
    submit(page, "/")
    page.wait_for_url(f"**/?*departement={council.departement}*")
    row = page.locator(f"main table a[href='/collectivites/{slug}']")
    assert row.count() == 1
    assert_accessible(page, "tenants filtered by département")
    assert_no_sideways_scroll(page, "tenants filtered by département")
    row.click()
    page.wait_for_url(f"{base}/collectivites/{slug}")
    assert page.locator("#tenant-status").inner_text() == fr("Active")
    assert_accessible(page, "tenant page")
    assert_no_sideways_scroll(page, "tenant page")

    # Suspend it (confirmation page, then confirm), then reactivate it.
    page.locator(f"main a[href='/collectivites/{slug}/suspendre']").click()
    page.wait_for_url(f"{base}/collectivites/{slug}/suspendre")
    assert_accessible(page, "suspension confirmation")
    submit(page, f"/collectivites/{slug}/suspendre")
    page.wait_for_url(f"{base}/collectivites/{slug}?fait=suspend")
    assert page.locator("#tenant-status").inner_text() == fr("Suspended")
    assert page.locator("main [role=status]").count() == 1
    assert_accessible(page, "tenant page, suspended")
    page.locator(f"main a[href='/collectivites/{slug}/reactiver']").click()
    page.wait_for_url(f"{base}/collectivites/{slug}/reactiver")
    assert_accessible(page, "reactivation confirmation")
    submit(page, f"/collectivites/{slug}/reactiver")
    page.wait_for_url(f"{base}/collectivites/{slug}?fait=reactivate")
    assert page.locator("#tenant-status").inner_text() == fr("Active")

    # A new plan.
    plan_code = f"parcours-{uuid.uuid4().hex[:6]}"
    page.goto(f"{base}/offres/nouvelle")
    assert_accessible(page, "new plan form")
    page.locator("#field-code").fill(plan_code)
    page.locator("#field-name").fill("Parcours")
    page.locator("label[for='field-period']").click()  # yearly
    page.locator("label[for='field-kind-flat']").click()
    page.locator("#field-flat_price").fill("900")
    page.locator("#field-vat_rate").fill("20")
    submit(page, "/offres/nouvelle")
    page.wait_for_url(f"{base}/offres/*?fait=created")
    assert plan_code in page.locator("main").inner_text()
    assert_accessible(page, "the new plan's page")
    with resources.admin_sessions()() as session:
        created = session.scalar(select(Plan).where(Plan.code == plan_code))
        assert created is not None and created.flat_price == Decimal("900") and created.kind == "flat"

    # The council's invoice: from the invoices list filtered on it, a confirmation, then issued.
    assert invoices_of(resources, council.ref.id) == []
    page.goto(f"{base}/factures?collectivite={slug}")
    assert_accessible(page, "invoices of the council, none yet")
    page.locator(f"main a[href='/factures/emettre?collectivite={slug}']").click()
    page.wait_for_url(f"{base}/factures/emettre?collectivite={slug}")
    assert_accessible(page, "issue confirmation")
    submit(page, "/factures/emettre")
    page.wait_for_url(f"{base}/factures?*fait=issued*")
    [invoice] = invoices_of(resources, council.ref.id)
    assert invoice.total_incl_vat > 0 and invoice.pdf_key is not None
    assert page.locator("main [role=status].notice").count() == 1
    assert_accessible(page, "invoices list after the issue")
    assert_no_sideways_scroll(page, "invoices list")
    page.locator(f"main table a[href='/factures/{invoice.id}']").click()
    page.wait_for_url(f"{base}/factures/{invoice.id}")
    assert invoice.number in page.locator("h1").inner_text()
    assert invoice_status(page) == fr("Due")
    assert_accessible(page, "invoice page")

    # Its PDF: Factur-X, valid against the EN 16931 rules.
    with page.expect_download() as download:
        page.locator(f"main a[href='/factures/{invoice.id}/pdf']").click()
    assert download.value.suggested_filename == f"{invoice.number}.pdf"
    check_pdf(Path(download.value.path()).read_bytes())

    # The payment in full: the invoice is paid.
    page.locator("#field-paid_on").fill(clock.today().isoformat())
    page.locator("#field-amount").fill(str(invoice.total_incl_vat))
    page.locator("#field-reference").fill("VIR-PARCOURS-1")
    submit(page, f"/factures/{invoice.id}/paiements")
    # A payment is kept for good: it is shown once more, then confirmed.
    page.locator("input[name=confirm]").wait_for(state="attached")
    assert "VIR-PARCOURS-1" in page.locator("main").inner_text()
    assert_accessible(page, "payment confirmation")
    submit(page, f"/factures/{invoice.id}/paiements")
    page.wait_for_url(f"{base}/factures/{invoice.id}?*done=payment*")
    assert page.locator("main [role=status]").first.inner_text().strip() == fr("The payment is recorded.")
    assert invoice_status(page) == fr("Paid")
    assert page.locator(f"form[action='/factures/{invoice.id}/paiements']").count() == 0  # nothing due
    assert "VIR-PARCOURS-1" in page.locator("main").inner_text()
    assert_accessible(page, "invoice page, paid")
    with resources.sessions()() as session:
        paid = session.scalars(select(Payment.amount).where(Payment.invoice_id == invoice.id)).all()
    assert paid == [invoice.total_incl_vat]
    page.goto(f"{base}/factures?collectivite={slug}&statut=paid")
    assert page.locator(f"main table a[href='/factures/{invoice.id}']").count() == 1
    assert_accessible(page, "paid invoices")
    context.close()


def issued_invoice(resources: PlatformResources, settings: Settings, tenant_id: uuid.UUID) -> Invoice:
    """The council's invoice: the staff's journey issues it; run alone, this test issues it itself."""
    found = invoices_of(resources, tenant_id)
    if not found:
        with resources.sessions().begin() as session:
            issued = run.bill_tenant(session, settings, tenant_id, clock.today()).issued
        for invoice_id in issued:
            documents.store_pdf(resources.sessions(), storage_from_settings(settings), invoice_id)
        found = invoices_of(resources, tenant_id)
    [invoice] = found
    return invoice


def test_council_administrator_downloads_its_invoice(
    browser: Any,
    billing_server: str,
    coop_settings: Settings,
    resources: PlatformResources,
    council: Council,
) -> None:
    invoice = issued_invoice(resources, coop_settings, council.ref.id)
    _, email, secret = make_person(resources, council.ref, ["tenant_admin"], totp=True, name="Maire Adjointe")
    assert secret
    base = f"http://{council.ref.slug}.{billing_server}"
    context = browser.new_context(locale="fr-FR", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base}/connexion")
    page.locator("#field-email").fill(email)
    page.locator("#field-password").fill(DEFAULT_PASSWORD)
    page.locator("#field-password").press("Enter")
    page.wait_for_url("**/connexion/code")
    page.locator("#field-code").fill(totp_now(secret))
    page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/**")

    page.goto(f"{base}/gestion/factures")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert invoice.number in page.locator("main table").inner_text()
    assert_accessible(page, "the council's invoices")
    with page.expect_download() as download:
        page.locator(f"main a[href='/gestion/factures/{invoice.id}/pdf']").click()
    check_pdf(Path(download.value.path()).read_bytes())
    context.close()
