"""The price rules of a plan read from the console's form (``billing/services/plans.py``): amounts with a
comma or a point, floor ≤ cap, bands increasing with the last one open-ended, VAT 0–100, and a new price
never earlier than the start of the plan's next period."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from bippop.billing.models import Plan
from bippop.billing.pricing import yearly_price
from bippop.billing.services.plans import (
    next_period_start,
    parse_amount,
    parse_bands,
    parse_effective_from,
    parse_terms,
)


@pytest.mark.parametrize(
    ("text", "places", "expected"),
    [
        ("0,25", 4, Decimal("0.2500")),
        ("0.25", 4, Decimal("0.2500")),
        ("1 200,5", 2, Decimal("1200.50")),
        ("7", 2, Decimal("7.00")),
    ],
)
def test_amounts_take_a_comma_or_a_point(text: str, places: int, expected: Decimal) -> None:
    assert parse_amount(text, places=places) == (expected, None)


@pytest.mark.parametrize("text", ["abc", "-1", "1,2,3", "1.000,50", "0,123", "", "1e3"])
def test_other_amounts_are_refused_with_a_message(text: str) -> None:
    value, message = parse_amount(text)
    assert value is None and message


def test_a_floor_above_the_cap_is_refused_on_the_cap() -> None:
    terms, errors = parse_terms(
        "per_inhabitant", {"unit_price": "0,25", "floor_price": "900", "cap_price": "800", "vat_rate": "20"}
    )
    assert terms is None and set(errors) == {"cap_price"}
    terms, errors = parse_terms(
        "per_inhabitant", {"unit_price": "0,25", "floor_price": "800", "cap_price": "800", "vat_rate": "20"}
    )
    assert errors == {} and terms is not None and terms.floor_price == terms.cap_price == Decimal("800.00")


@pytest.mark.parametrize("vat", ["-1", "100,01", "abc", ""])
def test_the_vat_rate_is_between_0_and_100(vat: str) -> None:
    assert "vat_rate" in parse_terms("flat", {"flat_price": "10", "vat_rate": vat})[1]


def test_bands_skip_blank_rows_and_end_open() -> None:
    form = {
        "band_up_to_1": "5000",
        "band_price_1": "800",
        "band_up_to_3": "20000",
        "band_price_3": "2500",
        "band_price_5": "6000",
    }
    tiers, errors = parse_bands(form)
    assert errors == {} and tiers == [
        {"up_to": 5000, "price": "800.00"},
        {"up_to": 20000, "price": "2500.00"},
        {"up_to": None, "price": "6000.00"},
    ]
    plan = Plan(code="t", name="T", kind="tiered", period="yearly", tiers=tiers, vat_rate=Decimal(20))
    assert [yearly_price(plan, n) for n in (5000, 5001, 20001)] == [
        Decimal("800.00"),
        Decimal("2500.00"),
        Decimal("6000.00"),
    ]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (
            {
                "band_up_to_1": "5000",
                "band_price_1": "1",
                "band_up_to_2": "5000",
                "band_price_2": "2",
                "band_price_3": "3",
            },
            "band_up_to_2",
        ),
        ({"band_up_to_1": "5000", "band_price_1": "1"}, "band_up_to_1"),  # the last band must be open
        ({"band_price_1": "1", "band_price_2": "2"}, "band_up_to_1"),  # only the last one may be open
        ({"band_up_to_1": "cinq", "band_price_1": "1", "band_price_2": "2"}, "band_up_to_1"),
        ({"band_up_to_1": "5000", "band_price_2": "2"}, "band_price_1"),
        ({}, "bands"),
    ],
)
def test_wrong_bands_are_refused_on_their_row(form: dict[str, str], field: str) -> None:
    tiers, errors = parse_bands(form)
    assert tiers == [] and field in errors


def test_a_new_price_starts_with_a_period_not_yet_begun() -> None:
    today = datetime.date(2027, 6, 15)
    assert next_period_start("yearly", today) == datetime.date(2028, 1, 1)
    assert next_period_start("monthly", today) == datetime.date(2027, 7, 1)
    assert parse_effective_from("", "yearly", today) == (datetime.date(2028, 1, 1), None)
    assert parse_effective_from("2029-01-01", "yearly", today) == (datetime.date(2029, 1, 1), None)
    assert parse_effective_from("2028-03-01", "yearly", today)[0] is None  # not a period's first day
    for day in ("2027-06-15", "2027-12-31", "2027-01-01"):
        assert parse_effective_from(day, "yearly", today)[0] is None
    assert parse_effective_from("2027-06-30", "monthly", today)[0] is None
    assert parse_effective_from("demain", "monthly", today)[0] is None
