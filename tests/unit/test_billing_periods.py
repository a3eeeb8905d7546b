"""Billing periods, their amounts and a change of plan mid-period (``bippop.billing.periods``), to the cent."""

from __future__ import annotations

import datetime
import itertools
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bippop.billing.models import Plan
from bippop.billing.periods import (
    Period,
    billing_periods,
    calendar_period,
    full_period_price,
    period_amount,
    plan_change_lines,
    population_for_period,
)
from bippop.billing.pricing import yearly_price

D = datetime.date
CENT = Decimal("0.01")


def plan(code: str = "standard", kind: str = "per_inhabitant", period: str = "yearly", **prices: Any) -> Plan:
    values: dict[str, Any] = {"tiers": [], "vat_rate": Decimal("20.00")}
    if kind == "per_inhabitant":
        values["unit_price"] = Decimal("0.25")
    values.update(prices)
    return Plan(code=code, name=code, kind=kind, period=period, **values)


STANDARD = plan()  # the seeded default plan: EUR 0.25 per inhabitant per year
FLAT_3000 = plan("forfait", "flat", flat_price=Decimal("3000.00"))
YEAR_2027 = Period(D(2027, 1, 1), D(2028, 1, 1))


def test_16420_inhabitants_on_the_default_plan_cost_4105_for_a_year() -> None:
    assert yearly_price(STANDARD, 16_420) == Decimal("4105.00")  # 16,420 × 0.25
    assert period_amount(STANDARD, 16_420, YEAR_2027) == Decimal("4105.00")


def test_a_leap_year_has_366_days_and_a_whole_one_costs_the_yearly_price() -> None:
    year_2028 = calendar_period("yearly", D(2028, 6, 1))
    assert year_2028 == Period(D(2028, 1, 1), D(2029, 1, 1)) and year_2028.days == 366
    assert period_amount(STANDARD, 16_420, year_2028) == Decimal("4105.00")
    # From 1 March: 366 − 31 − 29 = 306 days. 2028: 4105 × 306 / 366 = 3432.0491… → 3432.05;
    # 2027: 4105 × 306 / 365 = 3441.4520… → 3441.45.
    assert period_amount(STANDARD, 16_420, Period(D(2028, 3, 1), D(2029, 1, 1))) == Decimal("3432.05")
    assert period_amount(STANDARD, 16_420, Period(D(2027, 3, 1), D(2028, 1, 1))) == Decimal("3441.45")
    # 29 February alone: 4105 / 366 = 11.2158… → 11.22.
    assert period_amount(STANDARD, 16_420, Period(D(2028, 2, 29), D(2028, 3, 1))) == Decimal("11.22")


def test_yearly_periods_are_calendar_years_from_the_subscription_start() -> None:
    assert billing_periods("yearly", D(2027, 3, 15), D(2030, 1, 1)) == [
        Period(D(2027, 3, 15), D(2028, 1, 1)),
        Period(D(2028, 1, 1), D(2029, 1, 1)),
        Period(D(2029, 1, 1), D(2030, 1, 1)),
    ]
    # A subscription that ends mid-year: its last period is cut there.
    assert billing_periods("yearly", D(2027, 1, 1), D(2028, 5, 1))[-1] == Period(D(2028, 1, 1), D(2028, 5, 1))
    assert billing_periods("yearly", D(2027, 1, 1), D(2027, 1, 1)) == []


def test_monthly_periods_are_calendar_months_and_a_month_is_a_twelfth_rounded() -> None:
    monthly = plan("mensuel", period="monthly")
    periods = billing_periods("monthly", D(2028, 1, 10), calendar_period("monthly", D(2028, 3, 5)).end)
    assert periods == [
        Period(D(2028, 1, 10), D(2028, 2, 1)),
        Period(D(2028, 2, 1), D(2028, 3, 1)),
        Period(D(2028, 3, 1), D(2028, 4, 1)),
    ]
    assert periods[1].days == 29
    # 4105 / 12 = 342.0833… → 342.08 a month (twelve months: 4104.96).
    assert full_period_price(monthly, 16_420) == Decimal("342.08")
    assert period_amount(monthly, 16_420, periods[1]) == Decimal("342.08")
    # 10 to 31 January: 22 of 31 days, 342.08 × 22 / 31 = 242.7664… → 242.77.
    assert period_amount(monthly, 16_420, periods[0]) == Decimal("242.77")
    # 15 to 28 February 2027: 14 of 28 days, exactly half: 171.04.
    assert period_amount(monthly, 16_420, Period(D(2027, 2, 15), D(2027, 3, 1))) == Decimal("171.04")
    with pytest.raises(ValueError, match="more than one"):
        period_amount(monthly, 16_420, Period(D(2028, 1, 10), D(2028, 3, 1)))


def test_floors_and_caps_bound_the_price_before_it_is_prorated() -> None:
    bounded = plan("borne", floor_price=Decimal("500.00"), cap_price=Decimal("2000.00"))
    assert period_amount(bounded, 1_000, YEAR_2027) == Decimal("500.00")  # 250 → the floor
    assert period_amount(bounded, 100_000, YEAR_2027) == Decimal("2000.00")  # 25,000 → the cap
    assert period_amount(bounded, 4_000, YEAR_2027) == Decimal("1000.00")
    # The floor for 1 July to 31 December: 500 × 184 / 365 = 252.0547… → 252.05.
    assert period_amount(bounded, 1_000, Period(D(2027, 7, 1), D(2028, 1, 1))) == Decimal("252.05")
    # Cap, same half-year: 2000 × 184 / 365 = 1008.2191… → 1008.22.
    assert period_amount(bounded, 100_000, Period(D(2027, 7, 1), D(2028, 1, 1))) == Decimal("1008.22")


def test_a_change_on_1_july_2027_from_the_default_plan_to_a_flat_3000() -> None:
    # Invoiced on 1 January: 4105.00. 1 January to 30 June: 31+28+31+30+31+30 = 181 days; the rest 184.
    # Used: 4105 × 181 / 365 = 2035.6301… → 2035.63; credit: −(4105.00 − 2035.63) = −2069.37.
    # Charge: 3000 × 184 / 365 = 1512.3287… → 1512.33. The year costs 2035.63 + 1512.33 = 3547.96.
    credit, charge = plan_change_lines(STANDARD, FLAT_3000, 16_420, YEAR_2027, D(2027, 7, 1))
    assert (credit.kind, credit.plan_code, credit.amount) == ("credit", "standard", Decimal("-2069.37"))
    assert credit.period == Period(D(2027, 7, 1), D(2028, 1, 1))
    assert (charge.kind, charge.plan_code, charge.amount) == ("charge", "forfait", Decimal("1512.33"))
    assert charge.period == Period(D(2027, 7, 1), D(2028, 1, 1))
    assert Decimal("4105.00") + credit.amount + charge.amount == Decimal("3547.96")


def test_a_change_on_the_first_day_credits_everything_and_a_second_change_follows_the_first() -> None:
    credit, charge = plan_change_lines(STANDARD, FLAT_3000, 16_420, YEAR_2027, D(2027, 1, 1))
    assert credit.amount == Decimal("-4105.00") and charge.amount == Decimal("3000.00")
    # Back to the default plan on 1 October: the period invoiced under the flat plan is what its charge
    # covered. Used of it: 3000 × 92 / 365 = 756.1643… → 756.16 (July to September: 31+31+30 = 92);
    # credit −(1512.33 − 756.16) = −756.17; charge 4105 × 92 / 365 = 1034.6849… → 1034.68.
    _credit, first = plan_change_lines(STANDARD, FLAT_3000, 16_420, YEAR_2027, D(2027, 7, 1))
    credit, charge = plan_change_lines(FLAT_3000, STANDARD, 16_420, first.period, D(2027, 10, 1))
    assert (credit.amount, charge.amount) == (Decimal("-756.17"), Decimal("1034.68"))


def test_a_change_to_a_monthly_plan_charges_to_the_end_of_the_month() -> None:
    monthly = plan("mensuel", period="monthly")
    credit, charge = plan_change_lines(STANDARD, monthly, 16_420, YEAR_2027, D(2027, 7, 10))
    # 1 January to 9 July: 190 days, 4105 × 190 / 365 = 2136.8493… → 2136.85; credit −1968.15.
    assert credit.amount == Decimal("-1968.15")
    # 10 to 31 July: 22 of 31 days of 342.08 → 242.77; August on is invoiced month by month.
    assert charge.period == Period(D(2027, 7, 10), D(2027, 8, 1))
    assert charge.amount == Decimal("242.77")


def test_a_change_outside_the_period_is_refused() -> None:
    with pytest.raises(ValueError, match="not within"):
        plan_change_lines(STANDARD, FLAT_3000, 16_420, YEAR_2027, D(2028, 1, 1))


def test_the_population_is_the_official_one_or_the_fallback() -> None:
    assert population_for_period("commune", "60159", 1) > 30_000  # Compiègne
    assert population_for_period("commune", "00000", 1234) == 1234


# The property: for random plans, populations, periods and change days, nothing is lost to rounding.


def _cents(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(CENT, rounding=ROUND_HALF_UP)


prices = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("50000.00"), places=2)
plans = st.one_of(
    st.builds(
        lambda unit, floor, cap, period: plan(
            "par-habitant", period=period, unit_price=unit, floor_price=floor, cap_price=cap
        ),
        st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=4),
        st.none() | prices,
        st.none() | prices,
        st.sampled_from(["yearly", "monthly"]),
    ),
    st.builds(
        lambda price, period: plan("forfait", "flat", period, flat_price=price),
        prices,
        st.sampled_from(["yearly", "monthly"]),
    ),
    st.builds(
        lambda low, high, period: plan(
            "paliers",
            "tiered",
            period,
            tiers=[{"up_to": 5000, "price": str(low)}, {"up_to": None, "price": str(high)}],
        ),
        prices,
        prices,
        st.sampled_from(["yearly", "monthly"]),
    ),
)
days = st.dates(min_value=D(2024, 1, 1), max_value=D(2040, 12, 31))


@given(old=plans, new=plans, population=st.integers(0, 3_000_000), start=days, offset=st.integers(0, 400))
def test_a_change_of_plan_never_loses_a_cent(
    old: Plan, new: Plan, population: int, start: datetime.date, offset: int
) -> None:
    period = billing_periods(old.period, start, D(2042, 1, 1))[0]  # the first, partial or not
    change_day = start + datetime.timedelta(days=offset % period.days)
    credit, charge = plan_change_lines(old, new, population, period, change_day)
    invoiced = period_amount(old, population, period)
    old_whole, new_whole = calendar_period(old.period, start), calendar_period(new.period, change_day)
    old_price, new_price = full_period_price(old, population), full_period_price(new, population)
    # The stated rule, computed apart in exact fractions: each part rounded once, half up.
    used = _cents(Fraction(old_price) * (change_day - start).days / old_whole.days)
    remaining = _cents(Fraction(new_price) * (new_whole.end - change_day).days / new_whole.days)
    assert invoiced + credit.amount == used
    assert charge.amount == remaining
    assert invoiced + credit.amount + charge.amount == used + remaining
    assert credit.amount <= 0 <= charge.amount
    # Within a cent of the exact (unrounded) sum: two roundings of at most half a cent each.
    exact = (
        Fraction(old_price) * (change_day - start).days / old_whole.days
        + Fraction(new_price) * (new_whole.end - change_day).days / new_whole.days
    )
    assert abs(Fraction(used + remaining) - exact) <= Fraction(1, 100)
    # Changing to the same plan: the period costs what was invoiced, give or take that cent.
    again = sum(
        (line.amount for line in plan_change_lines(old, old, population, period, change_day)), invoiced
    )
    assert abs(again - invoiced) <= CENT


@given(plan_=plans, population=st.integers(0, 3_000_000), start=days, length=st.integers(1, 2_000))
def test_periods_cover_the_subscription_and_whole_ones_cost_the_full_price(
    plan_: Plan, population: int, start: datetime.date, length: int
) -> None:
    until = start + datetime.timedelta(days=length)
    periods = billing_periods(plan_.period, start, until)
    assert periods[0].start == start and periods[-1].end == until
    assert all(a.end == b.start for a, b in itertools.pairwise(periods))
    assert sum(p.days for p in periods) == length
    price = full_period_price(plan_, population)
    for period in periods:
        amount = period_amount(plan_, population, period)
        whole = calendar_period(plan_.period, period.start)
        assert amount == _cents(Fraction(price) * period.days / whole.days)
        assert (amount == price) if period == whole else (amount <= price)
