"""Who an invoice is from and to, as the run writes them on it (``facturx`` reads these keys), and
what keeps a period from being invoiced (a hold's reason code, worded by the console)."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from babel.numbers import format_decimal
from stdnum.fr import siret as siret_number

from bippop.billing.models import BillingProfile
from bippop.billing.periods import Period
from bippop.billing.services.issuing import Line
from bippop.config import Settings

SELLER_INCOMPLETE = "seller_incomplete"  # the co-op's SIREN, VAT number or IBAN is not configured
SIRET_INVALID = "siret_invalid"  # the paying entity's SIRET fails its check
ENGAGEMENT_MISSING = "engagement_missing"  # the buyer requires an engagement number and gave none
HOLD_REASONS = (SELLER_INCOMPLETE, SIRET_INVALID, ENGAGEMENT_MISSING)


def seller_of(settings: Settings) -> dict[str, Any]:
    return {
        "name": settings.coop_name,
        "siren": settings.coop_siren or "",
        "vat_number": settings.coop_vat_number or "",
        "iban": settings.coop_iban or "",
        "bic": settings.coop_bic or "",
        "address": {
            "line1": settings.coop_address,
            "postcode": settings.coop_postcode,
            "city": settings.coop_city,
            "country": "FR",
        },
    }


def buyer_of(profile: BillingProfile) -> dict[str, Any]:
    buyer: dict[str, Any] = {"name": profile.legal_name, "siret": profile.siret}
    if profile.service_code:
        buyer["service_code"] = profile.service_code
    if profile.engagement_number:
        buyer["engagement_number"] = profile.engagement_number
    return buyer


def hold_reason(profile: BillingProfile, settings: Settings) -> str | None:
    """Why an invoice to ``profile`` may not be issued now (a code of ``HOLD_REASONS``), or None."""
    if not (settings.coop_siren and settings.coop_vat_number and settings.coop_iban):
        return SELLER_INCOMPLETE
    if not siret_number.is_valid(profile.siret or ""):
        return SIRET_INVALID
    if profile.engagement_required and not (profile.engagement_number or "").strip():
        return ENGAGEMENT_MISSING
    return None


@dataclasses.dataclass(frozen=True)
class PeriodLine(Line):
    """A line for a period of a plan: its JSON also keeps the plan and the population it was priced on."""

    plan_code: str = ""
    population: int = 0

    def as_json(self) -> dict[str, str]:
        return {**super().as_json(), "plan_code": self.plan_code, "population": str(self.population)}


def last_day(period: Period) -> datetime.date:
    """The period's last day (``Period.end`` is excluded; an invoice names the last day it covers)."""
    return period.end - datetime.timedelta(days=1)


def period_label(what: str, plan_name: str, period: Period, population: int) -> str:
    """The line's wording on the (French) invoice: ``what``, the plan, the days, the population."""
    inhabitants = format_decimal(population, locale="fr_FR")
    return (
        f"{what}, formule « {plan_name} », du {period.start:%d/%m/%Y} au {last_day(period):%d/%m/%Y} "
        f"({inhabitants} habitants)"
    )
