"""Issue 12, item 6: the co-op's revenue for a year — figures of a known set of invoices, credit notes
and payments (by month, by département, by plan), the page's chart and its table, the accountant's CSV
and the FEC (its exact header, every entry balanced)."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
from collections import defaultdict
from decimal import Decimal

import pytest
from coop_support import COOP, staff_console
from litestar.testing import TestClient

from bippop import clock
from bippop.app import create_app
from bippop.billing.models import BillingProfile, Invoice, Payment, Plan
from bippop.billing.services import fec, revenue
from bippop.billing.services.issuing import Draft, Line, credit_note_for, issue
from bippop.collectivities.store import catalogue
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.runtime.resources import PlatformResources
from bippop.tenants.models import Tenant
from support import HandClock

FEC_HEADER = (
    "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\t"
    "PieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise"
)


def subscribed_tenant(
    resources: PlatformResources, kind: str, code: str, plan: Plan, population: int
) -> Tenant:
    tag = uuid.uuid4().hex[:10]
    with resources.admin_sessions().begin() as session:
        tenant = Tenant(
            id=uuid.uuid4(),
            slug=f"rev-{tag}",
            name=f"Collectivité {tag}",
            kind=kind,
            official_code=code,
            status="active",
            schema_name=f"t_rev_{tag}",
            db_role=f"r_rev_{tag}",
        )
        session.add_all([tenant, plan])
        session.flush()
        session.add(
            BillingProfile(
                tenant_id=tenant.id,
                plan_id=plan.id,
                population=population,
                legal_name=tenant.name,
                siret="21330063500017",
                contact_name="Compta",
                contact_email=f"compta-{tag}@example.org",
            )
        )
        session.expunge(tenant)
    return tenant


def a_plan(**columns: object) -> Plan:
    tag = uuid.uuid4().hex[:8]
    return Plan(id=uuid.uuid4(), code=f"rev-{tag}", name=f"Offre {tag}", **columns)


def issued(resources: PlatformResources, tenant: Tenant, day: datetime.date, net: str) -> Invoice:
    draft = Draft(
        tenant_id=tenant.id,
        buyer={"name": tenant.name, "siret": "21330063500017"},
        seller={"name": "Bip Pop SCIC", "siren": "123456782"},
        lines=[Line("Abonnement", Decimal(1), Decimal(net), Decimal("20.00"))],
    )
    at = HandClock(datetime.datetime(day.year, day.month, day.day, 10, tzinfo=datetime.UTC))
    with clock.use(at), resources.sessions().begin() as session:
        invoice = issue(session, draft)
        session.expunge(invoice)
    return invoice


def credited(resources: PlatformResources, invoice: Invoice, day: datetime.date) -> Invoice:
    at = HandClock(datetime.datetime(day.year, day.month, day.day, 10, tzinfo=datetime.UTC))
    with clock.use(at), resources.sessions().begin() as session:
        note = issue(session, credit_note_for(invoice))
        session.expunge(note)
    return note


def paid(resources: PlatformResources, invoice: Invoice, day: datetime.date, amount: str) -> None:
    with resources.sessions().begin() as session:
        session.add(
            Payment(
                id=uuid.uuid4(), invoice_id=invoice.id, paid_on=day, amount=Decimal(amount), reference="VIR"
            )
        )


class Books:
    """A year of the co-op's books: three tenants (a commune, a département, an EPCI), five documents,
    two payments."""

    def __init__(self, resources: PlatformResources) -> None:
        self.year = year = 3000 + uuid.uuid4().int % 5000
        epci = next(e for e in catalogue().entries if e.kind == "epci")
        self.epci_departement = epci.departement
        self.plans = [
            a_plan(kind="flat", flat_price=Decimal("1500.00")),
            a_plan(kind="per_inhabitant", unit_price=Decimal("0.5000")),
            a_plan(kind="flat", flat_price=Decimal("800.00")),
        ]
        self.commune = subscribed_tenant(resources, "commune", "2A004", self.plans[0], 1000)
        self.departement = subscribed_tenant(resources, "departement", "33", self.plans[1], 10000)
        self.epci = subscribed_tenant(resources, "epci", epci.code, self.plans[2], 5000)
        d = lambda month, day: datetime.date(year, month, day)  # noqa: E731
        self.a = issued(resources, self.commune, d(1, 15), "1000.00")  # paid in full on 1 February
        self.b = issued(resources, self.departement, d(3, 10), "2000.00")  # 400 paid; due 9 April
        self.c = issued(resources, self.epci, d(3, 20), "500.00")  # credited in full on 5 April
        self.note = credited(resources, self.c, d(4, 5))
        self.d = issued(resources, self.commune, d(4, 15), "100.00")  # due 15 May
        paid(resources, self.a, d(2, 1), "1200.00")
        paid(resources, self.b, d(4, 1), "400.00")
        self.today = d(4, 20)


@pytest.fixture
def books(resources: PlatformResources) -> Books:
    return Books(resources)


async def test_the_figures_of_a_known_year(settings: Settings, books: Books) -> None:
    engine = make_async_engine(settings)
    try:
        async with async_session_factory(engine)() as session:
            figures = await revenue.revenue(session, books.year, books.today)
    finally:
        await engine.dispose()
    assert figures.invoiced == Decimal("3100.00")  # 1000 + 2000 + 500 − 500 + 100
    assert figures.paid == Decimal("1600.00")
    assert figures.due == Decimal("120.00") and figures.overdue == Decimal("2000.00")
    months = {month: (invoiced, paid) for month, invoiced, paid in figures.months}
    assert months[1] == (Decimal("1000.00"), Decimal("0.00"))
    assert months[2] == (Decimal("0.00"), Decimal("1200.00"))
    assert months[3] == (Decimal("2500.00"), Decimal("0.00"))
    assert months[4] == (Decimal("-400.00"), Decimal("400.00"))
    assert len(figures.months) == 12 and months[12] == (Decimal("0.00"), Decimal("0.00"))
    departements = {g.label.split(" – ")[0]: g for g in figures.by_departement}
    assert departements["2A"].invoiced == Decimal("1100.00")
    assert departements["33"].invoiced == Decimal("2000.00")
    assert departements["33"].label == "33 – Gironde"
    assert departements[books.epci_departement].invoiced >= Decimal("0.00")
    plans = {g.label: g for g in figures.by_plan}
    first, second, third = (plans[p.name] for p in books.plans)
    assert (first.recurring, first.tenants, first.invoiced) == (Decimal("1500.00"), 1, Decimal("1100.00"))
    assert (second.recurring, second.invoiced) == (Decimal("5000.00"), Decimal("2000.00"))  # 10 000 × 0,50
    assert (third.recurring, third.invoiced) == (Decimal("800.00"), Decimal("0.00"))
    assert figures.recurring >= Decimal("7300.00")  # ours, and any other test's subscribed tenants


def test_the_departement_of_each_kind_of_tenant() -> None:
    assert revenue.departement_of("commune", "60159") == "60"
    assert revenue.departement_of("commune", "2A004") == "2A"
    assert revenue.departement_of("commune", "97411") == "974"
    assert revenue.departement_of("departement", "33") == "33"
    epci = next(e for e in catalogue().entries if e.kind == "epci")
    assert revenue.departement_of("epci", epci.code) == epci.departement


def test_the_page_the_csv_and_the_fec(settings: Settings, resources: PlatformResources, books: Books) -> None:
    with_siren = settings.replace(coop_siren="123456782")
    with staff_console(with_siren, resources, role="coop_operator") as console:
        page = console.get(f"/revenus?year={books.year}")
        spreadsheet = console.get(f"/revenus/export.csv?year={books.year}")
        entries = console.get(f"/revenus/fec.txt?year={books.year}")
    assert page.status_code == 200
    assert '<svg role="img"' in page.text and "<title id=" in page.text
    assert "<caption>Invoiced and paid each month of" in page.text and "€3,100.00" in page.text
    assert "€1,600.00" in page.text and "€2,000.00" in page.text  # paid; overdue

    assert spreadsheet.status_code == 200 and spreadsheet.headers["content-type"].startswith("text/csv")
    assert spreadsheet.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(spreadsheet.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Numéro",
        "Type",
        "Date",
        "Collectivité",
        "SIRET",
        "Montant HT",
        "TVA",
        "Montant TTC",
        "Payé",
        "Reste dû",
    ]
    by_number = {row[0]: row for row in rows[1:]}
    assert len(by_number) == 5
    assert by_number[books.a.number] == [
        books.a.number, "Facture", f"15/01/{books.year}", books.commune.name, "21330063500017",
        "1000,00", "200,00", "1200,00", "1200,00", "0,00",
    ]  # fmt: skip
    assert by_number[books.b.number][-2:] == ["400,00", "2000,00"]
    assert by_number[books.note.number][1:2] + by_number[books.note.number][5:8] == [
        "Avoir",
        "-500,00",
        "-100,00",
        "-600,00",
    ]
    assert by_number[books.c.number][-1] == "0,00"  # credited: nothing due

    assert entries.status_code == 200
    assert f'filename="123456782FEC{books.year}1231.txt"' in entries.headers["content-disposition"]
    lines = entries.content.decode("utf-8").split("\r\n")
    assert lines[0] == FEC_HEADER and lines[-1] == ""
    cells = [line.split("\t") for line in lines[1:-1]]
    assert all(len(row) == 18 for row in cells)
    amount = lambda text: Decimal(text.replace(",", "."))  # noqa: E731
    balance: dict[str, Decimal] = defaultdict(Decimal)
    for row in cells:
        balance[row[2]] += amount(row[11]) - amount(row[12])
    assert balance and all(value == 0 for value in balance.values()), balance
    sale = [row for row in cells if row[2] == books.a.number]
    assert [(r[0], r[4], r[11], r[12]) for r in sale] == [
        ("VE", "411" + fec.client_code(books.commune.slug), "1200,00", "0,00"),
        ("VE", "706", "0,00", "1000,00"),
        ("VE", "44571", "0,00", "200,00"),
    ]
    assert sale[0][3] == f"{books.year}0115" and sale[0][6] == fec.client_code(books.commune.slug)
    reversed_ = [(r[4][:3], r[11], r[12]) for r in cells if r[2] == books.note.number]
    assert reversed_ == [("411", "0,00", "600,00"), ("706", "500,00", "0,00"), ("445", "100,00", "0,00")]
    bank = [row for row in cells if row[0] == "BQ"]
    assert len(bank) == 4 and {row[4][:3] for row in bank} == {"512", "411"}
    assert [row[3] for row in bank[::2]] == [f"{books.year}0201", f"{books.year}0401"]


def test_the_console_keeps_revenue_to_the_staff(settings: Settings) -> None:
    with TestClient(create_app(settings)) as anonymous:
        for path in ("/revenus", "/revenus/export.csv", "/revenus/fec.txt", "/relances"):
            response = anonymous.get(path, headers=COOP, follow_redirects=False)
            assert response.status_code in (302, 303, 401, 403), (path, response.status_code)
