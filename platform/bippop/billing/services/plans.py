"""The plans the co-op offers: their price terms, read from a form, and what may be done to a plan.

- **Terms.** A plan is priced per inhabitant (unit price, optional floor and cap, floor ≤ cap), flat
  (one price a period), or in population bands (``up_to`` increasing, the last band open-ended). Amounts
  accept a comma or a point for the decimals (« 0,25 », « 0.25 »); the VAT rate is 0 to 100 percent.
- **Re-pricing** adds a ``platform.plan_prices`` version from the first day of a calendar period on,
  never earlier than the start of the plan's next one: a period already begun keeps the price it began
  with (``pricing.plan_as_of``), and no period is ever priced twice. A second re-pricing for the same
  (future) day replaces the first, even at once (``insert … on conflict do update``).
- **Archiving** stops offering a plan (``pricing.offered_plans``); subscriptions on it keep it. The
  default plan is never archived, and an archived plan is never made the default: both read the plan
  again under its row lock (and making a default locks the current one first), and the database refuses
  an archived default whatever happens (``ck_plans_default_not_archived``).

These functions apply the rules and change rows; the co-op's console records who did it
(``coop/services/plans.py``): billing knows nothing of the console's audit log.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.models import PERIODS, PLAN_KINDS, Plan, PlanPrice
from bippop.billing.periods import calendar_period
from bippop.web.i18n import _

BAND_ROWS = 5  # rows of the bands form; blank ones are ignored
CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
NAME_MAX = 120
NUMBER_PATTERN = re.compile(r"^[0-9]{1,12}(?:[.,][0-9]{1,6})?$", re.ASCII)
POPULATION_PATTERN = re.compile(r"[0-9]{1,9}", re.ASCII)
UNIT_PLACES, UNIT_MAX = 4, Decimal("999999")  # Numeric(10, 4)
AMOUNT_PLACES, AMOUNT_MAX = 2, Decimal("9999999999")  # Numeric(12, 2)
POPULATION_MAX = 100_000_000


@dataclass(frozen=True)
class Terms:
    """A plan's price: the columns ``plans`` and ``plan_prices`` share."""

    unit_price: Decimal | None = None
    flat_price: Decimal | None = None
    floor_price: Decimal | None = None
    cap_price: Decimal | None = None
    tiers: list[dict[str, Any]] = field(default_factory=list)
    vat_rate: Decimal = Decimal("20.00")

    def columns(self) -> dict[str, Any]:
        return {
            "unit_price": self.unit_price,
            "flat_price": self.flat_price,
            "floor_price": self.floor_price,
            "cap_price": self.cap_price,
            "tiers": list(self.tiers),
            "vat_rate": self.vat_rate,
        }


@dataclass
class Outcome:
    """What an action did: the plan (and the price version), or the messages by field name."""

    plan: Plan | None = None
    price: PlanPrice | None = None
    errors: dict[str, str] = field(default_factory=dict)
    changed: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors


# Reading a form (pure) ----------------------------------------------------------------------------


def parse_amount(
    text: str, *, places: int = AMOUNT_PLACES, maximum: Decimal = AMOUNT_MAX
) -> tuple[Decimal | None, str | None]:
    """An amount typed in a form (« 0,25 », « 0.25 », « 1 200 »): (value, None), or (None, message)."""
    cleaned = text.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if not NUMBER_PATTERN.match(cleaned):
        return None, _("Enter a number such as 0,25 or 1200 (digits, and a comma or a point for decimals).")
    try:
        value = Decimal(cleaned.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern lets only numbers through
        return None, _("Enter a number such as 0,25 or 1200.")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        return None, _("Use at most %(places)d decimals.") % {"places": places}
    if value > maximum:
        return None, _("This amount is too large.")
    return value.quantize(Decimal(1).scaleb(-places)), None


def parse_vat(text: str) -> tuple[Decimal | None, str | None]:
    if not text:
        return None, _("Enter the VAT rate, in percent (20 in France).")
    value, problem = parse_amount(text, places=2, maximum=Decimal(100))
    if problem:
        return None, _("Enter a VAT rate between 0 and 100, such as 20 or 5,5.")
    return value, None


def parse_terms(kind: str, form: Mapping[str, str]) -> tuple[Terms | None, dict[str, str]]:
    """The price terms of a plan of ``kind`` from the form's fields (``unit_price``, ``floor_price``,
    ``cap_price``, ``flat_price``, ``band_up_to_N``/``band_price_N``, ``vat_rate``)."""
    errors: dict[str, str] = {}
    vat, problem = parse_vat(form.get("vat_rate", ""))
    if problem:
        errors["vat_rate"] = problem

    def amount(name: str, *, required: bool, places: int = AMOUNT_PLACES) -> Decimal | None:
        text = form.get(name, "")
        if not text:
            if required:
                errors[name] = _("Enter an amount in euros, such as 0,25.")
            return None
        value, message = parse_amount(text, places=places, maximum=UNIT_MAX if places == 4 else AMOUNT_MAX)
        if message:
            errors[name] = message
        return value

    terms: dict[str, Any] = {}
    if kind == "per_inhabitant":
        terms["unit_price"] = amount("unit_price", required=True, places=UNIT_PLACES)
        floor, cap = amount("floor_price", required=False), amount("cap_price", required=False)
        if floor is not None and cap is not None and floor > cap:
            errors["cap_price"] = _("The cap must be at least the floor.")
        terms.update(floor_price=floor, cap_price=cap)
    elif kind == "flat":
        terms["flat_price"] = amount("flat_price", required=True)
    elif kind == "tiered":
        tiers, band_errors = parse_bands(form)
        errors.update(band_errors)
        terms["tiers"] = tiers
    else:
        errors["kind"] = _("Choose how the plan is priced.")
    if errors or vat is None:
        return None, errors
    return Terms(vat_rate=vat, **terms), {}


def parse_bands(form: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Population bands from rows ``band_up_to_N``/``band_price_N`` (N = 1…``BAND_ROWS``): blank rows
    are ignored, ``up_to`` increases from row to row, and the last band is left open (no ``up_to``)."""
    errors: dict[str, str] = {}
    rows = [
        (n, form.get(f"band_up_to_{n}", ""), form.get(f"band_price_{n}", ""))
        for n in range(1, BAND_ROWS + 1)
        if form.get(f"band_up_to_{n}", "") or form.get(f"band_price_{n}", "")
    ]
    if not rows:
        return [], {"bands": _("Enter at least one band: its price, and up to which population it applies.")}
    tiers: list[dict[str, Any]] = []
    previous = 0
    for index, (n, up_to_text, price_text) in enumerate(rows):
        last = index == len(rows) - 1
        up_to: int | None = None
        if last and up_to_text:
            errors[f"band_up_to_{n}"] = _("Leave this empty: the last band covers every larger population.")
        elif not last and not up_to_text:
            errors[f"band_up_to_{n}"] = _("Enter the largest population of this band.")
        elif up_to_text:
            if not POPULATION_PATTERN.fullmatch(up_to_text) or not 0 < int(up_to_text) <= POPULATION_MAX:
                errors[f"band_up_to_{n}"] = _("Enter a whole number of inhabitants, such as 5000.")
            elif int(up_to_text) <= previous:
                errors[f"band_up_to_{n}"] = _("Each band must go above the one before it.")
            else:
                up_to = previous = int(up_to_text)
        price, problem = parse_amount(price_text) if price_text else (None, _("Enter the band's price."))
        if problem:
            errors[f"band_price_{n}"] = problem
        tiers.append({"up_to": up_to, "price": str(price)})
    return ([], errors) if errors else (tiers, {})


def parse_identity(form: Mapping[str, str]) -> dict[str, str]:
    """Messages for the code, name, kind and period of a new plan."""
    errors: dict[str, str] = {}
    if not CODE_PATTERN.match(form.get("code", "")):
        errors["code"] = _(
            "Enter a code of 1 to 40 lower-case letters, digits or dashes, such as standard-2027."
        )
    name = form.get("name", "")
    if not name:
        errors["name"] = _("Enter the plan's name.")
    elif len(name) > NAME_MAX:
        errors["name"] = _("Use at most %(count)d characters.") % {"count": NAME_MAX}
    if form.get("kind") not in PLAN_KINDS:
        errors["kind"] = _("Choose how the plan is priced.")
    if form.get("period") not in PERIODS:
        errors["period"] = _("Choose a yearly or a monthly period.")
    return errors


def next_period_start(period: str, today: datetime.date) -> datetime.date:
    """The first day of the plan's next calendar period: the earliest day a new price may start."""
    return calendar_period(period, today).end


def parse_effective_from(
    text: str, period: str, today: datetime.date
) -> tuple[datetime.date | None, str | None]:
    """The day a new price starts: blank, the start of the next period; else the first day of a period
    on or after it."""
    earliest = next_period_start(period, today)
    if not text:
        return earliest, None
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        return None, _("Enter a date such as %(day)s.") % {"day": earliest.isoformat()}
    if day < earliest:
        return None, _("A new price cannot change a period already begun: choose %(day)s or later.") % {
            "day": earliest.isoformat()
        }
    begins = calendar_period(period, day)
    if begins.start != day:
        return None, _(
            "A new price starts on the first day of a period: choose %(day)s (or the first day of a later "
            "period)."
        ) % {"day": begins.end.isoformat()}
    return day, None


# Changing plans ---------------------------------------------------------------------------------


async def create_plan(session: AsyncSession, form: Mapping[str, str]) -> Outcome:
    """A new plan, offered at once (never the default: that is a separate, deliberate step)."""
    errors = parse_identity(form)
    terms, term_errors = parse_terms(form.get("kind", ""), form)
    errors.update({k: v for k, v in term_errors.items() if k not in errors})
    if not errors and await session.scalar(select(Plan.id).where(Plan.code == form["code"])) is not None:
        errors["code"] = _("Another plan already has this code.")
    if errors or terms is None:
        return Outcome(errors=errors)
    plan = Plan(
        code=form["code"],
        name=form["name"],
        kind=form["kind"],
        period=form["period"],
        is_default=False,
        **terms.columns(),
    )
    session.add(plan)
    await session.flush()
    return Outcome(plan=plan)


async def reprice_plan(
    session: AsyncSession, plan: Plan, form: Mapping[str, str], *, today: datetime.date, staff_id: Any
) -> Outcome:
    """A new price version of ``plan`` from ``form["effective_from"]`` (blank: the next period)."""
    errors: dict[str, str] = {}
    day, problem = parse_effective_from(form.get("effective_from", ""), plan.period, today)
    if problem:
        errors["effective_from"] = problem
    terms, term_errors = parse_terms(plan.kind, form)
    errors.update(term_errors)
    if errors or terms is None or day is None:
        return Outcome(plan=plan, errors=errors)
    # A version for a day still to come is replaced (never one already begun), even by two at once.
    columns = {**terms.columns(), "created_by": staff_id}
    statement = (
        insert(PlanPrice)
        .values(id=uuid.uuid4(), plan_id=plan.id, effective_from=day, **columns)
        .on_conflict_do_update(
            index_elements=["plan_id", "effective_from"], set_={**columns, "updated_at": func.now()}
        )
        .returning(PlanPrice.id)
    )
    version_id = (await session.execute(statement)).scalar_one()
    version = await session.get(PlanPrice, version_id, populate_existing=True)
    assert version is not None
    return Outcome(plan=plan, price=version)


async def archive_plan(session: AsyncSession, plan: Plan, *, now: datetime.datetime) -> Outcome:
    """No longer offered; its subscriptions keep it. Refused for the default plan (read under the row's
    lock: made the default at the same moment, it is refused)."""
    await session.refresh(plan, with_for_update=True)
    if plan.is_default:
        return Outcome(
            plan=plan,
            errors={"form": _("The default plan cannot be archived: make another plan the default first.")},
        )
    if plan.archived_at is not None:
        return Outcome(plan=plan, changed=False)
    plan.archived_at = now
    await session.flush()
    return Outcome(plan=plan)


async def make_default_plan(session: AsyncSession, plan: Plan) -> Outcome:
    """The plan councils get unless they choose another (one default at a time). The switch is
    serialised (an advisory lock, then the current default's row and this plan's, read again): two at
    once end with one default, and a plan archived meanwhile is refused."""
    await session.execute(text("select pg_advisory_xact_lock(hashtextextended('plans:default', 0))"))
    await session.execute(select(Plan.id).where(Plan.is_default).with_for_update())
    await session.refresh(plan, with_for_update=True)
    if plan.archived_at is not None:
        return Outcome(plan=plan, errors={"form": _("An archived plan cannot be the default.")})
    if plan.is_default:
        return Outcome(plan=plan, changed=False)
    await session.execute(update(Plan).where(Plan.is_default).values(is_default=False))
    plan.is_default = True
    await session.flush()
    return Outcome(plan=plan)
