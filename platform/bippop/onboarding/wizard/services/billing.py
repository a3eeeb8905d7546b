"""Step 6: the plan (its yearly price from the collectivity's population) and who pays: the paying
entity's legal name and SIRET (14 digits, Luhn checked), its Chorus Pro service code, whether an
engagement number is required, and the billing contact (checked by ``billing.services.identity``, as the
console and the council's portal check them later)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.models import Plan
from bippop.billing.pricing import offered_plans, yearly_price
from bippop.billing.services import identity
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services import StepOutcome
from bippop.onboarding.wizard.store import save_answer
from bippop.web.forms import first_text, form_problems
from bippop.web.i18n import _

PLAN_LIMIT = 40


@dataclasses.dataclass(frozen=True)
class PricedPlan:
    plan: Plan
    price: Decimal


async def priced_plans(session: AsyncSession, population: int) -> list[PricedPlan]:
    """The plans a council may choose (the default first) with their yearly price for this population."""
    return [PricedPlan(plan, yearly_price(plan, population)) for plan in await offered_plans(session)]


def billing_values(signup: Signup, plans: list[PricedPlan]) -> dict[str, Any]:
    """What the form shows: what was saved, over the defaults (the default plan, the collectivity's
    name, the administrator as the contact)."""
    account = signup.answers.get("account") or {}
    defaults = {
        "plan": plans[0].plan.code if plans else "",
        "legal_name": (signup.answers.get("collectivity") or {}).get("name", ""),
        "contact_name": account.get("display_name", ""),
        "contact_email": account.get("email", ""),
    }
    saved = signup.answers.get("billing")
    return {**defaults, **(saved if isinstance(saved, dict) else {})}


def billing_problems(values: dict[str, Any], plans: list[PricedPlan]) -> dict[str, str]:
    """The plan's checks here, the billing identity's in ``billing.services.identity``."""
    errors = form_problems(values)
    if len(values["plan"]) > PLAN_LIMIT:
        errors.setdefault("plan", _("%(limit)d characters at most.") % {"limit": PLAN_LIMIT})
    for key, message in identity.identity_problems(values).items():
        errors.setdefault(key, message)
    if values["plan"] not in {p.plan.code for p in plans}:
        errors.setdefault("plan", _("Choose a plan."))
    return errors


async def save_billing(session: AsyncSession, signup: Signup, data: dict[str, Any]) -> StepOutcome:
    values: dict[str, Any] = {"plan": first_text(data, "plan").strip(), **identity.read_form(data)}
    population = int((signup.answers.get("collectivity") or {}).get("population") or 0)
    plans = await priced_plans(session, population)
    errors = billing_problems(values, plans)
    if errors:
        return StepOutcome.refused(errors, values)
    save_answer(signup, "billing", identity.normalised(values), step=6)
    return StepOutcome()
