"""A plan's yearly price for a population, to the cent (``Decimal``, rounded half up once, at the end)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.models import Plan, PlanPrice

CENT = Decimal("0.01")


def yearly_price(plan: Plan, population: int) -> Decimal:
    """Excluding VAT. Per inhabitant: population × unit price, within the floor and the cap; flat: the
    flat price; tiered: the price of the first band whose ``up_to`` reaches the population."""
    if population < 0:
        raise ValueError("population must not be negative")
    if plan.kind == "per_inhabitant":
        amount = Decimal(population) * (plan.unit_price or Decimal(0))
        if plan.floor_price is not None:
            amount = max(amount, plan.floor_price)
        if plan.cap_price is not None:
            amount = min(amount, plan.cap_price)
    elif plan.kind == "flat":
        amount = plan.flat_price or Decimal(0)
    elif plan.kind == "tiered":
        bands = sorted(plan.tiers or [], key=lambda b: (b.get("up_to") is None, b.get("up_to") or 0))
        chosen = next((b for b in bands if b.get("up_to") is None or population <= int(b["up_to"])), None)
        if chosen is None:
            raise ValueError(f"plan {plan.code}: no band for a population of {population}")
        amount = Decimal(str(chosen["price"]))
    else:
        raise ValueError(f"plan {plan.code}: unknown kind {plan.kind!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def with_vat(amount: Decimal, plan: Plan) -> Decimal:
    return (amount * (1 + plan.vat_rate / 100)).quantize(CENT, rounding=ROUND_HALF_UP)


async def default_plan(session: AsyncSession) -> Plan:
    """The plan a council gets unless it chooses another (the seeded « Standard », EUR 0.25 per inhabitant
    per year, until the co-op changes it)."""
    plan = await session.scalar(select(Plan).where(Plan.is_default, Plan.archived_at.is_(None)))
    if plan is None:
        raise LookupError("no default plan in platform.plans")
    return plan


async def offered_plans(session: AsyncSession) -> list[Plan]:
    """Plans a council may choose: not archived, the default first."""
    rows = await session.scalars(
        select(Plan).where(Plan.archived_at.is_(None)).order_by(Plan.is_default.desc(), Plan.name)
    )
    return list(rows)


PRICE_COLUMNS = ("unit_price", "flat_price", "floor_price", "cap_price", "tiers", "vat_rate")


def plan_as_of(plan: Plan, versions: Iterable[PlanPrice], day: datetime.date) -> Plan:
    """The plan priced as it was on ``day``: the latest of its price versions effective on or before
    that day, else its own columns (its price at creation). A transient copy, never added to a session;
    ``yearly_price`` and ``with_vat`` take it like the plan."""
    chosen = max(
        (v for v in versions if v.plan_id == plan.id and v.effective_from <= day),
        key=lambda v: v.effective_from,
        default=None,
    )
    if chosen is None:
        return plan
    copy = Plan(
        id=plan.id,
        code=plan.code,
        name=plan.name,
        kind=plan.kind,
        period=plan.period,
        is_default=plan.is_default,
        archived_at=plan.archived_at,
    )
    for column in PRICE_COLUMNS:
        setattr(copy, column, getattr(chosen, column))
    return copy


def versions_query(plan_ids: Iterable[object]) -> Select[PlanPrice]:
    """The price versions of these plans (run with a sync or an async session)."""
    return select(PlanPrice).where(PlanPrice.plan_id.in_(list(plan_ids))).order_by(PlanPrice.effective_from)
