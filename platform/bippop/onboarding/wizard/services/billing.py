"""Step 6: the plan (its yearly price from the collectivity's population) and who pays: the paying
entity's legal name and SIRET (14 digits, Luhn checked), its Chorus Pro service code, whether an
engagement number is required, and the billing contact."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.fr import siret as siret_number

from bippop.accounts.services.links import looks_like_email, normalise_email
from bippop.billing.models import Plan
from bippop.billing.pricing import offered_plans, yearly_price
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services import StepOutcome
from bippop.onboarding.wizard.store import save_answer
from bippop.tenants.branding import normalise_phone
from bippop.web.forms import first_text, form_problems
from bippop.web.i18n import _

TEXT_FIELDS = {
    "plan": 40,
    "legal_name": 200,
    "siret": 30,
    "service_code": 100,
    "engagement_number": 50,
    "contact_name": 120,
    "contact_email": 254,
    "contact_phone": 30,
}


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
    errors = form_problems(values)
    for key, limit in TEXT_FIELDS.items():
        if len(values[key]) > limit:
            errors.setdefault(key, _("%(limit)d characters at most.") % {"limit": limit})
    if values["plan"] not in {p.plan.code for p in plans}:
        errors.setdefault("plan", _("Choose a plan."))
    if len(values["legal_name"]) < 2:
        errors.setdefault("legal_name", _("Enter the legal name of the paying entity."))
    if not siret_number.is_valid(values["siret"]):
        errors.setdefault(
            "siret",
            _(
                "This SIRET number is not valid: 14 digits, as on the entity's notice (the last digit is a check digit)."
            ),
        )
    if len(values["contact_name"]) < 2:
        errors.setdefault("contact_name", _("Enter the billing contact's name."))
    if not looks_like_email(values["contact_email"]):
        errors.setdefault("contact_email", _("Enter an e-mail address like name@example.fr."))
    if values["contact_phone"] and normalise_phone(values["contact_phone"]) is None:
        errors.setdefault("contact_phone", _("Enter a French phone number such as 03 44 40 72 00."))
    return errors


async def save_billing(session: AsyncSession, signup: Signup, data: dict[str, Any]) -> StepOutcome:
    values: dict[str, Any] = {key: first_text(data, key).strip() for key in TEXT_FIELDS}
    values["siret"] = "".join(values["siret"].split())
    values["engagement_required"] = first_text(data, "engagement_required") == "yes"
    population = int((signup.answers.get("collectivity") or {}).get("population") or 0)
    plans = await priced_plans(session, population)
    errors = billing_problems(values, plans)
    if errors:
        return StepOutcome.refused(errors, values)
    values["contact_email"] = normalise_email(values["contact_email"])
    if values["contact_phone"]:
        values["contact_phone"] = normalise_phone(values["contact_phone"])
    save_answer(signup, "billing", values, step=6)
    return StepOutcome()
