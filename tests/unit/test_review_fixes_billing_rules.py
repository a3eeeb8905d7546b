"""Review fixes (issue #12) that need no database: spreadsheet cells kept as text in the Chorus manifest,
ASCII-only numbers in the plan forms, a new price only from a period's first day, the console's page
number clamped, and the Chorus Pro token cached per client secret."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bippop.billing.chorus import export
from bippop.billing.chorus.client import ChorusClient, ChorusConfig, forget_tokens
from bippop.billing.models import Invoice
from bippop.billing.services.plans import parse_amount, parse_bands, parse_effective_from, parse_terms
from bippop.billing.services.revenue import Document, documents_csv
from bippop.billing.spreadsheet import safe_cell
from bippop.coop.console.common import MAX_PAGE, page_number


def invoice(**buyer: Any) -> Invoice:
    return Invoice(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), kind="invoice", number="2099-000007", year=2099,
        sequence=7, issue_date=datetime.date(2099, 1, 5), due_date=datetime.date(2099, 2, 4),
        currency="EUR", total_excl_vat=Decimal("100.00"), vat_total=Decimal("20.00"),
        total_incl_vat=Decimal("120.00"), lines=[], seller={},
        buyer={"name": "Commune", "siret": "21690123100011", **buyer},
    )  # fmt: skip


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(start: str) -> None:
    assert safe_cell(f'{start}HYPERLINK("http://x")') == f'\'{start}HYPERLINK("http://x")'
    assert safe_cell("Commune de Lyon") == "Commune de Lyon"


def test_the_chorus_manifest_keeps_the_buyers_formulas_as_text() -> None:
    row = export._row(
        invoice(name='=HYPERLINK("http://evil.example","x")', service_code="+SERV", engagement_number="@EJ")
    )
    cells = next(csv.reader(io.StringIO(export._csv([row]).decode("utf-8-sig")), delimiter=";"))
    assert cells[4] == '\'=HYPERLINK("http://evil.example","x")'
    assert cells[6] == "'+SERV" and cells[7] == "'@EJ"
    assert cells[0] == "2099-000007" and cells[8] == "100.00"  # numbers untouched


def test_the_accountants_csv_keeps_the_buyers_formulas_as_text() -> None:
    doc = Document(
        id=uuid.uuid4(), number="2099-000001", kind="invoice", issue_date=datetime.date(2099, 1, 5),
        due_date=datetime.date(2099, 2, 4), tenant_id=uuid.uuid4(), tenant_name="-2+3+cmd", tenant_slug="x",
        departement="69", siret="=1+1", excl_vat=Decimal("1.00"), vat=Decimal("0.20"),
        incl_vat=Decimal("1.20"), paid=Decimal(0), balance=Decimal("1.20"),
    )  # fmt: skip
    assert ";'-2+3+cmd;'=1+1;" in documents_csv([doc]).decode("utf-8")


@pytest.mark.parametrize("digits", ["５０００", "٥٠٠٠", "5²", "²"])
def test_a_band_limit_in_other_digits_is_refused_with_the_normal_message(digits: str) -> None:
    def bands(up_to: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
        return parse_bands({"band_up_to_1": up_to, "band_price_1": "100", "band_price_2": "200"})

    tiers, errors = bands(digits)
    assert tiers == [] and errors == bands("many")[1] and list(errors) == ["band_up_to_1"]


def test_a_superscript_digit_does_not_crash_plan_terms() -> None:
    terms, errors = parse_terms(
        "tiered", {"band_up_to_1": "²", "band_price_1": "1", "band_price_2": "2", "vat_rate": "20"}
    )
    assert terms is None and "band_up_to_1" in errors


@pytest.mark.parametrize("text", ["１２", "١٢", "1²", "0,２5"])
def test_amounts_in_other_digits_are_refused(text: str) -> None:
    value, message = parse_amount(text)
    assert value is None and message == parse_amount("abc")[1]


def test_a_new_price_starts_on_the_first_day_of_a_period_only() -> None:
    today = datetime.date(2027, 6, 15)
    value, message = parse_effective_from("2028-03-01", "yearly", today)
    assert value is None and message is not None and "2029-01-01" in message
    value, message = parse_effective_from("2027-08-17", "monthly", today)
    assert value is None and message is not None and "2027-09-01" in message
    assert parse_effective_from("2029-01-01", "yearly", today) == (datetime.date(2029, 1, 1), None)
    assert parse_effective_from("2027-08-01", "monthly", today) == (datetime.date(2027, 8, 1), None)


class _Request:
    def __init__(self, page: str) -> None:
        self.query_params = {"page": page}


@pytest.mark.parametrize(
    ("asked", "page"),
    [("3", 3), ("0", 1), ("-4", 1), ("x", 1), ("999999999999999999999", MAX_PAGE), ("9" * 5000, MAX_PAGE)],
)
def test_the_page_number_is_clamped(asked: str, page: int) -> None:
    assert page_number(_Request(asked)) == page  # type: ignore[arg-type]


def test_new_client_secrets_never_reuse_the_old_token() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.content.decode())
        return httpx.Response(200, json={"access_token": f"t{len(asked)}", "expires_in": 3600})

    def client(secret: str) -> ChorusClient:
        config = ChorusConfig("http://api/", "http://oauth/token", "app", secret, "acct:pw", "1")
        return ChorusClient(config, httpx.Client(transport=httpx.MockTransport(answer)))

    forget_tokens()
    try:
        assert client("old-secret")._token() == "t1"
        assert client("old-secret")._token() == "t1"  # cached
        assert client("new-secret")._token() == "t2"  # asked again with the new secret
        assert len(asked) == 2 and "new-secret" in asked[1]
    finally:
        forget_tokens()


def test_the_fec_text_fields_carry_no_tab_nor_line_break() -> None:
    from bippop.billing.services import fec

    paid = revenue_received(tenant_name="Commune\tde\u2028Lyon\x85", reference="VIR\r\n42\v\f")
    text = fec.fec_text(fec.entries([], [paid], 2099)).decode("utf-8")
    rows = text.split("\r\n")[:-1]
    assert len(rows) == 3 and all(row.count("\t") == len(fec.COLUMNS) - 1 for row in rows)
    assert "Commune de Lyon" in rows[2] and "VIR 42" in rows[1]
    assert not any(ch in text for ch in "\v\f\x85\u2028")


def revenue_received(**values: Any) -> Any:
    from bippop.billing.services.revenue import Received

    base: dict[str, Any] = {
        "id": uuid.uuid4(), "paid_on": datetime.date(2099, 3, 1), "amount": Decimal("10.00"),
        "reference": "VIR", "invoice_number": "2099-000001", "tenant_slug": "lyon", "tenant_name": "Lyon",
    }  # fmt: skip
    return Received(**{**base, **values})
