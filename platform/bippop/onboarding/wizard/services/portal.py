"""Steps 3 to 5: the portal's address (a slug proposed from the name, unique, reserved words refused,
shown as it will look), its appearance (a theme, colours white text stays readable on, a tagline) and
the service modules it offers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.modules.registry import installed_modules
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services import StepOutcome
from bippop.onboarding.wizard.store import save_answer
from bippop.tenants import naming
from bippop.tenants.branding import BrandingError, clean_branding
from bippop.tenants.models import Tenant
from bippop.web.forms import field_values, first_text, form_problems
from bippop.web.i18n import _

NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug_from_name(name: str) -> str:
    """« Saint-Jean-de-Luz » → ``saint-jean-de-luz``: no accents, lower case, words joined by dashes,
    40 characters at most, starting with a letter."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = NOT_SLUG.sub("-", ascii_name).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)[:40].rstrip("-")
    return slug if len(slug) >= 3 else f"{slug or 'commune'}-portail"


def proposed_slug(signup: Signup) -> str:
    saved = (signup.answers.get("address") or {}).get("slug")
    return saved or slug_from_name((signup.answers.get("collectivity") or {}).get("name", ""))


async def slug_problem(session: AsyncSession, slug: str) -> str | None:
    """Why ``slug`` cannot be the address, in the reader's language, or None."""
    if not naming.SLUG_PATTERN.fullmatch(slug) or "--" in slug:
        return _(
            "3 to 40 characters: lower-case letters without accents, digits and single dashes, starting "
            "with a letter and not ending with a dash (for example compiegne)."
        )
    if slug in naming.SIGNUP_RESERVED_SLUGS:
        return _("« %(slug)s » is kept by the platform: choose another address.") % {"slug": slug}
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        return _("« %(slug)s » is already taken: choose another address.") % {"slug": slug}
    return None


async def save_address(session: AsyncSession, signup: Signup, data: dict[str, Any]) -> StepOutcome:
    slug = first_text(data, "slug").strip().lower()
    values = {"slug": slug}
    problem = (form_problems(values) or {}).get("slug") or await slug_problem(session, slug)
    if problem:
        return StepOutcome.refused({"slug": problem}, values)
    save_answer(signup, "address", {"slug": slug}, step=3)
    return StepOutcome()


def branding_message(exc: BrandingError) -> str:
    if exc.code == "contrast":
        return _(
            "White text on this colour has a contrast of only %(ratio).1f:1; at least 4.5:1 is needed "
            "(RGAA / WCAG AA). Choose a darker shade."
        ) % {"ratio": exc.details.get("ratio", 0)}
    if exc.code == "too_long":
        return _("%(limit)d characters at most.") % {"limit": exc.details.get("limit", 0)}
    return _("Write a colour as #rrggbb, for example #1d4f91.")


def save_branding(signup: Signup, data: dict[str, Any], themes: Iterable[str]) -> StepOutcome:
    values = {key: first_text(data, key).strip() for key in ("theme", "primary", "accent", "tagline")}
    errors = form_problems(values)
    if values["theme"] not in set(themes):
        errors.setdefault("theme", _("Choose one of the themes."))
    cleaned: dict[str, Any] = {}
    for key in ("primary", "accent", "tagline"):
        if key in errors:
            continue
        try:
            cleaned |= clean_branding({key: values[key]})
        except BrandingError as exc:
            errors[key] = branding_message(exc)
    if errors:
        return StepOutcome.refused(errors, values)
    save_answer(signup, "branding", {"theme": values["theme"], **cleaned}, step=4)
    return StepOutcome()


def module_choices() -> list[Any]:
    """The installed modules, in their order."""
    return sorted(installed_modules().values(), key=lambda m: (m.position, m.slug))


def chosen_modules(signup: Signup) -> list[str]:
    saved = signup.answers.get("modules")
    return list(saved) if isinstance(saved, list) else [m.slug for m in module_choices()]


def save_modules(signup: Signup, data: dict[str, Any]) -> StepOutcome:
    installed = installed_modules()
    chosen = [slug for slug in dict.fromkeys(field_values(data, "modules")) if slug in installed]
    if not chosen:
        return StepOutcome.refused({"modules": _("Choose at least one service.")}, {"modules": []})
    save_answer(signup, "modules", chosen, step=5)
    return StepOutcome()
