"""Use cases of the branding editor: check and save what the administrator typed, preview colours, put or
take away the logo. Each change is recorded in the tenant's audit log; the tenant row is changed through
the registry (``registry.TenantRegistry``), the default language in the tenant's own settings."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import anyio.to_thread
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.appearance.images import LogoRefused, checked_logo
from bippop.appearance.registry import TenantRegistry
from bippop.storage import TenantFiles
from bippop.tenants.branding import DEFAULT_COLOURS, BrandingError, clean_branding, contrast_ratio
from bippop.tenants.models import Tenant
from bippop.tenants.tenant_settings import Setting
from bippop.web import i18n
from bippop.web.forms import form_problems
from bippop.web.i18n import _
from bippop.web.tenant_settings import DEFAULT_LOCALE_KEY

BRANDING_FIELDS = (
    "tagline",
    "primary",
    "accent",
    "contact_phone",
    "contact_email",
    "contact_address",
    "contact_hours",
)
MULTILINE = ("contact_address", "contact_hours")
FIELDS = ("name", "default_locale", "theme", *BRANDING_FIELDS)
LOGO_FOLDER = "appearance"


@dataclasses.dataclass
class AppearanceOutcome:
    done: bool = True
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    values: dict[str, str] = dataclasses.field(default_factory=dict)


def current_values(tenant: Tenant, default_locale: str) -> dict[str, str]:
    branding = tenant.branding or {}
    return {
        "name": tenant.name,
        "default_locale": default_locale,
        "theme": tenant.theme,
        **{key: str(branding.get(key, "")) for key in BRANDING_FIELDS},
    }


def branding_message(error: BrandingError, value: str) -> str:
    """The refusal in the reader's language."""
    if error.code == "format":
        return _("Enter a colour like #1d4f91: a # then 6 digits or letters from a to f.")
    if error.code == "contrast":
        return _(
            "White text on %(colour)s has a contrast of only %(ratio)s:1; at least 4.5:1 is needed "
            "(RGAA / WCAG AA). Choose a darker shade."
        ) % {"colour": value, "ratio": f"{error.details['ratio']:.2f}"}
    if error.code == "too_many_lines":
        return _("At most %(limit)d lines.") % {"limit": error.details["limit"]}
    if error.code == "too_long":
        return _("At most %(limit)d characters.") % {"limit": error.details["limit"]}
    if error.code == "phone":
        return _("Enter a French phone number, like 03 44 40 72 00 or +33 3 44 40 72 00.")
    if error.code == "email":
        return _("Enter an e-mail address, like mairie@example.fr.")
    return _("This value cannot be used.")


def check_branding(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(cleaned branding fields, errors): each field checked on its own, so every refusal shows at once."""
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key in BRANDING_FIELDS:
        value = form.get(key, "")
        try:
            cleaned[key] = clean_branding({key: value}).get(key, "")
        except BrandingError as exc:
            errors[key] = branding_message(exc, value)
    return cleaned, errors


def check_appearance(form: Mapping[str, str], themes: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    cleaned, errors = check_branding(form)
    name = " ".join(form.get("name", "").split())
    if not 2 <= len(name) <= 200:
        errors["name"] = _("The name must be 2 to 200 characters long.")
    if form.get("default_locale") not in i18n.LOCALES:
        errors["default_locale"] = _("Choose French or English.")
    if form.get("theme") not in set(themes):
        errors["theme"] = _("Choose one of the themes offered.")
    errors.update(form_problems({k: form.get(k, "") for k in FIELDS}, multiline=MULTILINE))
    return {**cleaned, "name": name}, errors


async def save_appearance(
    db_session: AsyncSession,
    registry: TenantRegistry,
    actor_id: uuid.UUID,
    form: Mapping[str, str],
    themes: Iterable[str],
) -> AppearanceOutcome:
    """Save everything or nothing: any refused field sends the whole form back with its message."""
    values = {key: form.get(key, "") for key in FIELDS}
    cleaned, errors = check_appearance(values, themes)
    if errors:
        return AppearanceOutcome(done=False, errors=errors, values=values)
    locale = values["default_locale"]
    statement = insert(Setting).values(key=DEFAULT_LOCALE_KEY, value=locale)
    await db_session.execute(
        statement.on_conflict_do_update(
            index_elements=[Setting.key], set_={"value": statement.excluded.value}
        )
    )
    branding = {key: cleaned.get(key) or None for key in BRANDING_FIELDS}

    def apply(service: Any, tenant: Tenant) -> list[str]:
        before = current_values(tenant, "")
        service.rename(tenant, cleaned["name"])
        service.set_theme(tenant, values["theme"], themes)
        service.set_branding(tenant, branding)
        after = current_values(tenant, "")
        return sorted(key for key in after if key != "default_locale" and before[key] != after[key])

    # Events are append-only: recorded once what changed is known; the tenant side commits after the
    # registry, so a failure there leaves the registry changed but unrecorded (logged as an error).
    changed = await registry.change(apply)
    audit.record(
        db_session,
        "appearance_changed",
        actor_id=actor_id,
        details={"changed": changed, "default_locale": locale},
    )
    return AppearanceOutcome(values=values)


@dataclasses.dataclass(frozen=True)
class ColourPreview:
    primary: str
    accent: str
    ratios: dict[str, float]  # white text on each colour chosen (refused ones included)
    errors: dict[str, str]
    refused: dict[str, str]  # a well-formed colour refused for its contrast: shown as a swatch, no text on it


def preview_colours(form: Mapping[str, str]) -> ColourPreview:
    """What the chosen colours look like. The sample never puts unreadable text on the page: a refused
    colour is told by its message and ratio, with a swatch, and the sample keeps the default."""
    shown: dict[str, str] = {}
    ratios: dict[str, float] = {}
    errors: dict[str, str] = {}
    refused: dict[str, str] = {}
    for key in ("primary", "accent"):
        value = form.get(key, "").strip()
        colour = DEFAULT_COLOURS[key]
        try:
            colour = clean_branding({key: value}).get(key, colour)
        except BrandingError as exc:
            errors[key] = branding_message(exc, value)
            if exc.code == "contrast":
                refused[key] = value.lower()
        shown[key] = colour
        ratios[key] = round(contrast_ratio(refused.get(key, colour), "#ffffff"), 2)
    return ColourPreview(shown["primary"], shown["accent"], ratios, errors, refused)


def logo_message(code: str) -> str:
    return {
        "empty": _("Choose a file: a PNG, JPEG or SVG image."),
        "too_big": _("The file is too big: 512 KB at most."),
        "not_an_image": _("This file is not a PNG, JPEG or SVG image (whatever its name says)."),
        "too_large_sides": _("The image is too large: 4096 pixels at most on each side."),
        "bad_svg": _("This SVG file cannot be read as an image."),
    }.get(code, _("This file cannot be used as the logo."))


async def upload_logo(
    db_session: AsyncSession, registry: TenantRegistry, files: TenantFiles, actor_id: uuid.UUID, data: bytes
) -> AppearanceOutcome:
    """Check the file by its content, store it under the tenant's folder, point the branding at it."""
    try:
        logo = checked_logo(data)
    except LogoRefused as exc:
        return AppearanceOutcome(done=False, errors={"logo": logo_message(exc.code)})
    version = secrets.token_hex(8)
    name = f"logo-{version}.{logo.extension}"
    await anyio.to_thread.run_sync(
        lambda: files.put(LOGO_FOLDER, name, logo.data, content_type=logo.content_type)
    )
    audit.record(
        db_session,
        "logo_uploaded",
        actor_id=actor_id,
        details={"type": logo.content_type, "bytes": len(logo.data), "version": version},
    )
    await db_session.flush()
    branding = {"logo_key": f"{LOGO_FOLDER}/{name}", "logo_type": logo.content_type, "logo_version": version}
    previous = await registry.change(lambda service, tenant: _replace_logo(service, tenant, branding))
    await _delete_quietly(files, previous)
    return AppearanceOutcome()


async def remove_logo(
    db_session: AsyncSession, registry: TenantRegistry, files: TenantFiles, actor_id: uuid.UUID
) -> None:
    audit.record(db_session, "logo_removed", actor_id=actor_id)
    await db_session.flush()
    cleared = {"logo_key": None, "logo_type": None, "logo_version": None}
    previous = await registry.change(lambda service, tenant: _replace_logo(service, tenant, cleared))
    await _delete_quietly(files, previous)


def _replace_logo(service: Any, tenant: Tenant, branding: dict[str, Any]) -> str | None:
    previous = (tenant.branding or {}).get("logo_key")
    service.set_branding(tenant, branding)
    return str(previous) if previous else None


async def _delete_quietly(files: TenantFiles, key: str | None) -> None:
    """The replaced file goes; one left behind (storage hiccup) is only unused space in the tenant's folder."""
    if not key:
        return
    try:
        await anyio.to_thread.run_sync(lambda: files.delete(key))
    except Exception:
        return
