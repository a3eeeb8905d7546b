"""Billing periods of a subscription and what each one costs, to the cent.

The rules, each applied in ``Decimal`` and rounded half up to the cent:

- **Periods.** A yearly plan is billed by calendar year, a monthly plan by calendar month. The first
  period starts on the day the subscription starts and runs to the end of its calendar year or month
  (a partial period); ``end`` is exclusive.
- **A full period's price.** Yearly: ``pricing.yearly_price``. Monthly: the yearly price / 12, rounded
  to the cent (so twelve months of a EUR 4,105.00 plan come to 12 × 342.08 = 4,104.96: the month is
  the price a council sees and pays, and every month costs the same).
- **A partial period** costs the full period's price × its days / the days of its calendar year
  (365 or 366) or month (28 to 31), rounded once.
- **A change of plan** on ``change_day`` inside an invoiced period: the part used under the old plan is
  priced as a partial period (rounded once); the credit is what was invoiced minus that used part, so
  invoiced + credit is exactly the used part and no cent is lost to a second rounding; the new plan is
  charged as a partial period from ``change_day`` to the end of *its* calendar period.
- **Population.** Read from the official list when a period's invoice is made, at the start of the
  period, and kept for the whole period (a change of plan mid-period uses the same population).
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from bippop import collectivities
from bippop.billing.models import PERIODS, Plan
from bippop.billing.pricing import CENT, yearly_price

MONTHS = Decimal(12)


@dataclass(frozen=True, slots=True)
class Period:
    """The days from ``start`` (included) to ``end`` (excluded)."""

    start: datetime.date
    end: datetime.date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a period ends after it starts ({self.start} – {self.end})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True, slots=True)
class Line:
    """A line of a change of plan: ``credit`` (negative ``amount``: the unused part of the old plan) or
    ``charge`` (the new plan from the change on). Excluding VAT, at the plan's ``vat_rate`` (percent);
    it goes on an invoice as quantity 1 at ``amount``."""

    kind: Literal["credit", "charge"]
    plan_code: str
    period: Period
    amount: Decimal
    vat_rate: Decimal


def calendar_period(plan_period: str, day: datetime.date) -> Period:
    """The calendar year (``yearly``) or month (``monthly``) holding ``day``."""
    if plan_period == "yearly":
        return Period(datetime.date(day.year, 1, 1), datetime.date(day.year + 1, 1, 1))
    if plan_period == "monthly":
        first = day.replace(day=1)
        length = calendar.monthrange(day.year, day.month)[1]
        return Period(first, first + datetime.timedelta(days=length))
    raise ValueError(f"unknown plan period {plan_period!r} (one of {', '.join(PERIODS)})")


def billing_periods(plan_period: str, start: datetime.date, until: datetime.date) -> list[Period]:
    """The periods covering ``start`` to ``until`` (excluded), in order: the first starts on ``start``
    (partial unless it is the first of a year or month), the others are whole calendar periods, and the
    last is cut at ``until`` when ``until`` falls inside one (a subscription that ends). To get every
    period begun by a day, pass ``until=calendar_period(plan_period, day).end``."""
    periods: list[Period] = []
    day = start
    while day < until:
        whole = calendar_period(plan_period, day)
        periods.append(Period(day, min(whole.end, until)))
        day = whole.end
    return periods


def full_period_price(plan: Plan, population: int) -> Decimal:
    """Excluding VAT, one whole period: the yearly price, or for a monthly plan the yearly price / 12
    rounded half up to the cent."""
    price = yearly_price(plan, population)
    if plan.period == "monthly":
        return (price / MONTHS).quantize(CENT, rounding=ROUND_HALF_UP)
    return price


def period_amount(plan: Plan, population: int, period: Period) -> Decimal:
    """Excluding VAT, ``period`` under ``plan``: the full period's price, or for a part of a calendar
    period that price × the part's days / the calendar period's days, rounded once half up. ``period``
    must lie within one calendar period of the plan."""
    whole = calendar_period(plan.period, period.start)
    if period.end > whole.end:
        raise ValueError(f"{period} spans more than one {plan.period} period")
    price = full_period_price(plan, population)
    if period == whole:
        return price
    return (price * period.days / whole.days).quantize(CENT, rounding=ROUND_HALF_UP)


def plan_change_lines(
    old_plan: Plan, new_plan: Plan, population: int, period: Period, change_day: datetime.date
) -> list[Line]:
    """A council on ``old_plan``, invoiced for ``period`` (``period_amount(old_plan, population,
    period)``), moves to ``new_plan`` from ``change_day`` on (``period.start <= change_day <
    period.end``). Two lines:

    - credit = −(invoiced − used), where used = ``period_amount`` of ``period.start`` to ``change_day``
      (zero when the change is on the first day), so invoiced + credit = used exactly;
    - charge = ``period_amount`` of the new plan from ``change_day`` to the end of the new plan's
      calendar period (for two plans of the same period, ``period.end``); the new plan's next invoices
      start at ``charge.period.end``.

    Hence invoiced + credit + charge = round(old × used days / total) + round(new × remaining days /
    total), each part rounded once. ``period`` may itself be partial: a first period, or the remainder
    charged by an earlier change (whose charge is then what was invoiced).
    """
    if not period.start <= change_day < period.end:
        raise ValueError(f"the change on {change_day} is not within {period}")
    invoiced = period_amount(old_plan, population, period)
    used = Decimal("0.00")
    if change_day > period.start:
        used = period_amount(old_plan, population, Period(period.start, change_day))
    rest = Period(change_day, calendar_period(new_plan.period, change_day).end)
    return [
        Line("credit", old_plan.code, Period(change_day, period.end), used - invoiced, old_plan.vat_rate),
        Line("charge", new_plan.code, rest, period_amount(new_plan, population, rest), new_plan.vat_rate),
    ]


def population_for_period(kind: str, code: str, fallback: int) -> int:
    """The population a period is billed on: the official one of collectivity ``(kind, code)`` in the
    shipped list (``collectivities.DATASET``, the one source), or ``fallback`` (the billing profile's)
    when the list does not hold it. Read when the period's invoice is made, i.e. at its start, and kept
    for the whole period; a new release of the list counts from the next period on."""
    found = collectivities.find(kind, code)
    if found is None:
        return fallback
    return found.population
