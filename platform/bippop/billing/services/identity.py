"""A council's billing identity (``platform.billing_profiles``): what a form may hold and how it is
kept, the same rules for the sign-up wizard, the co-op console and the council's portal.

- **Who pays** (``legal_name``, ``siret``): the paying entity; its SIRET is 14 digits with a check
  digit (``stdnum.fr.siret``), kept without its spaces or dots.
- **How Chorus Pro routes it** (``service_code``, ``engagement_required``, ``engagement_number``).
- **The billing contact** (name, a strict e-mail address, an optional French phone number).

Every text is refused with an invisible character (``web.forms``) or beyond its column's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stdnum.fr import siret as siret_number

from bippop.accounts.services.links import looks_like_email, normalise_email
from bippop.billing.models import BillingProfile
from bippop.tenants.branding import normalise_phone
from bippop.web.forms import first_text, form_problems
from bippop.web.i18n import _

LIMITS = {
    "legal_name": 200,
    "siret": 30,
    "service_code": 100,
    "engagement_number": 50,
    "contact_name": 120,
    "contact_email": 254,
    "contact_phone": 30,
}
PAYER_FIELDS = ("legal_name", "siret")  # the council asks the co-op to change these
COUNCIL_FIELDS = (
    "service_code",
    "engagement_required",
    "engagement_number",
    "contact_name",
    "contact_email",
    "contact_phone",
)
ALL_FIELDS = PAYER_FIELDS + COUNCIL_FIELDS
OPTIONAL_FIELDS = frozenset({"service_code", "engagement_number", "contact_phone"})  # "" is kept as NULL


def read_form(data: Mapping[str, Any], fields: Iterable[str] = ALL_FIELDS) -> dict[str, Any]:
    """The posted ``fields``, trimmed (the SIRET without its spaces); ``engagement_required`` a bool."""
    values: dict[str, Any] = {}
    for key in fields:
        if key == "engagement_required":
            values[key] = first_text(data, key) == "yes"
        else:
            values[key] = first_text(data, key).strip()
    if "siret" in values:
        values["siret"] = "".join(values["siret"].split())
    return values


def identity_problems(values: Mapping[str, Any]) -> dict[str, str]:
    """Field name → message for each of ``values`` (the fields a form holds) that is refused."""
    errors = form_problems(values)
    for key, limit in LIMITS.items():
        if key in values and len(values[key]) > limit:
            errors.setdefault(key, _("%(limit)d characters at most.") % {"limit": limit})
    if "legal_name" in values and len(values["legal_name"]) < 2:
        errors.setdefault("legal_name", _("Enter the legal name of the paying entity."))
    if "siret" in values and not siret_number.is_valid(values["siret"]):
        errors.setdefault(
            "siret",
            _(
                "This SIRET number is not valid: 14 digits, as on the entity's notice (the last digit is a check digit)."
            ),
        )
    if "contact_name" in values and len(values["contact_name"]) < 2:
        errors.setdefault("contact_name", _("Enter the billing contact's name."))
    if "contact_email" in values and not looks_like_email(values["contact_email"]):
        errors.setdefault("contact_email", _("Enter an e-mail address like name@example.fr."))
    phone = values.get("contact_phone")
    if phone and normalise_phone(phone) is None:
        errors.setdefault("contact_phone", _("Enter a French phone number such as 03 44 40 72 00."))
    return errors


def normalised(values: Mapping[str, Any]) -> dict[str, Any]:
    """Checked ``values`` as they are kept: the SIRET's digits, the e-mail in lower case, the phone
    written the usual way."""
    kept = dict(values)
    if kept.get("siret"):
        kept["siret"] = siret_number.compact(kept["siret"])
    if "contact_email" in kept:
        kept["contact_email"] = normalise_email(kept["contact_email"])
    if kept.get("contact_phone"):
        kept["contact_phone"] = normalise_phone(kept["contact_phone"])
    return kept


def profile_values(profile: BillingProfile, fields: Iterable[str] = ALL_FIELDS) -> dict[str, Any]:
    """What a form shows of ``profile`` ("" for an empty optional field)."""
    values: dict[str, Any] = {}
    for key in fields:
        value = getattr(profile, key)
        values[key] = bool(value) if key == "engagement_required" else (value or "")
    return values


def apply(profile: BillingProfile, values: Mapping[str, Any]) -> list[str]:
    """Write checked, normalised ``values`` on ``profile``; the names of the fields that changed."""
    changed = []
    for key in ALL_FIELDS:
        if key not in values:
            continue
        value = values[key]
        if key in OPTIONAL_FIELDS:
            value = value or None
        if getattr(profile, key) != value:
            setattr(profile, key, value)
            changed.append(key)
    return changed
