"""The console's use cases on plans: each applies billing's rules (``billing/services/plans.py``) and,
when something changed, records it in the platform audit log in the same transaction (``plan.create``,
``plan.reprice``, ``plan.archive``, ``plan.default``; codes and amounts only). The caller commits."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.models import Plan
from bippop.billing.services import plans as rules
from bippop.billing.services.plans import Outcome
from bippop.coop.audit import record


def _price_codes(outcome: Outcome) -> dict[str, Any]:
    source = outcome.price if outcome.price is not None else outcome.plan
    assert source is not None
    amounts: dict[str, Any] = {
        name: str(getattr(source, name))
        for name in ("unit_price", "flat_price", "floor_price", "cap_price", "vat_rate")
        if getattr(source, name) is not None
    }
    if source.tiers:
        amounts["tiers"] = source.tiers
    return amounts


async def create(session: AsyncSession, form: Mapping[str, str], *, staff_id: uuid.UUID) -> Outcome:
    outcome = await rules.create_plan(session, form)
    if outcome.ok and outcome.plan is not None:
        plan = outcome.plan
        record(
            session,
            "plan.create",
            staff_id=staff_id,
            target=plan.code,
            kind=plan.kind,
            period=plan.period,
            **_price_codes(outcome),
        )
    return outcome


async def reprice(
    session: AsyncSession, plan: Plan, form: Mapping[str, str], *, staff_id: uuid.UUID, today: datetime.date
) -> Outcome:
    outcome = await rules.reprice_plan(session, plan, form, today=today, staff_id=staff_id)
    if outcome.ok and outcome.price is not None:
        record(
            session,
            "plan.reprice",
            staff_id=staff_id,
            target=plan.code,
            effective_from=outcome.price.effective_from.isoformat(),
            **_price_codes(outcome),
        )
    return outcome


async def archive(
    session: AsyncSession, plan: Plan, *, staff_id: uuid.UUID, now: datetime.datetime
) -> Outcome:
    outcome = await rules.archive_plan(session, plan, now=now)
    if outcome.ok and outcome.changed:
        record(session, "plan.archive", staff_id=staff_id, target=plan.code)
    return outcome


async def make_default(session: AsyncSession, plan: Plan, *, staff_id: uuid.UUID) -> Outcome:
    outcome = await rules.make_default_plan(session, plan)
    if outcome.ok and outcome.changed:
        record(session, "plan.default", staff_id=staff_id, target=plan.code)
    return outcome
