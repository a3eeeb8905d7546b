"""A tenant's branding is data: checked when set, turned into CSS custom properties when shown.

Keys (``platform.tenants.branding``): ``tagline``, the town hall's contact (``contact_phone``,
``contact_email``, ``contact_address``, ``contact_hours``), the colours ``primary`` and ``accent`` (white
text on them must reach WCAG AA 4.5:1) and the uploaded logo (``logo_key`` in the tenant's storage folder,
``logo_type``, ``logo_version``, which changes on each upload). The name is a column of its own.

A refusal is a :class:`BrandingError` naming the field and a ``code`` (with ``limit`` or ``ratio``), so
that pages word it in the reader's language; its own text is French, for the command line.
"""

from __future__ import annotations

import re
from typing import Any

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOURS = {"primary": "#1d4f91", "accent": "#a3314b"}
# key → most characters kept (after folding spaces)
TEXT_FIELDS = {
    "tagline": 160,
    "contact_phone": 30,
    "contact_email": 254,
    "contact_address": 300,
    "contact_hours": 600,
    "logo_key": 300,
    "logo_type": 40,
    "logo_version": 40,
}
# Fields whose line breaks are kept (an address, opening hours), with at most so many lines.
MULTILINE_FIELDS = {"contact_address": 6, "contact_hours": 14}
LOGO_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
AA_NORMAL_TEXT = 4.5

# French numbers as people write them: 03 44 40 72 00, 03.44.40.72.00, +33 3 44 40 72 00, +33 (0)3…,
# 0033…; overseas departments by their own country codes (+262, +590, +594, +596).
PHONE_PREFIXES = ("33", "262", "590", "594", "596")
PHONE_SEPARATORS = re.compile(r"[\s.\-/]")
EMAIL = re.compile(
    r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


class BrandingError(ValueError):
    def __init__(self, message: str, field: str, code: str = "invalid", **details: Any) -> None:
        super().__init__(message)
        self.field = field
        self.code = code  # format, contrast, too_long, too_many_lines, phone, email, logo_type
        self.details = details


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def checked_colour(value: object, field: str) -> str:
    """``value`` lower-cased when it is ``#rrggbb`` and white text on it reaches 4.5:1."""
    if not isinstance(value, str) or not HEX_COLOUR.fullmatch(value):
        raise BrandingError(
            f"Couleur « {value} » invalide : format #rrggbb attendu.", field=field, code="format"
        )
    ratio = contrast_ratio(value.lower(), "#ffffff")
    if ratio < AA_NORMAL_TEXT:
        raise BrandingError(
            f"La couleur {value} n'offre qu'un contraste de {ratio:.1f}:1 avec le texte blanc ; "
            f"il faut au moins {AA_NORMAL_TEXT}:1 (RGAA / WCAG AA). Choisissez une teinte plus foncée.",
            field=field,
            code="contrast",
            ratio=ratio,
        )
    return value.lower()


def normalise_phone(text: str) -> str | None:
    """A French phone number written the usual way (``03 44 40 72 00``), or None when it is not one."""
    compact = PHONE_SEPARATORS.sub("", text.strip()).replace("(0)", "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        for prefix in PHONE_PREFIXES:
            rest = compact[1 + len(prefix) :]
            if compact[1:].startswith(prefix) and len(rest) == 9 and rest.isdigit() and rest[0] != "0":
                if prefix == "33":
                    compact = "0" + rest
                    break
                return f"+{prefix} {rest[:3]} " + " ".join(rest[i : i + 2] for i in range(3, 9, 2))
        else:
            return None
    if len(compact) == 10 and compact.isdigit() and compact[0] == "0" and compact[1] != "0":
        return " ".join(compact[i : i + 2] for i in range(0, 10, 2))
    return None


def _folded(key: str, value: object, limit: int) -> str:
    lines = str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if key in MULTILINE_FIELDS:
        kept = [" ".join(line.split()) for line in lines]
        kept = [line for line in kept if line]
        if len(kept) > MULTILINE_FIELDS[key]:
            raise BrandingError(
                f"{key} : {MULTILINE_FIELDS[key]} lignes au plus.",
                field=key,
                code="too_many_lines",
                limit=MULTILINE_FIELDS[key],
            )
        text = "\n".join(kept)
    else:
        text = " ".join(str(value).split())
    if len(text) > limit:
        raise BrandingError(f"{key} : {limit} caractères au plus.", field=key, code="too_long", limit=limit)
    return text


def _checked_text(key: str, text: str) -> str:
    if key == "contact_phone":
        phone = normalise_phone(text)
        if phone is None:
            raise BrandingError(
                f"Numéro « {text} » invalide : un numéro français comme 03 44 40 72 00.",
                field=key,
                code="phone",
            )
        return phone
    if key == "contact_email" and not EMAIL.fullmatch(text):
        raise BrandingError(
            f"Adresse « {text} » invalide : une adresse comme mairie@exemple.fr.", field=key, code="email"
        )
    if key == "logo_type" and text not in LOGO_TYPES:
        raise BrandingError(f"Type de logo « {text} » refusé.", field=key, code="logo_type")
    return text


def clean_branding(data: dict[str, Any]) -> dict[str, Any]:
    """Validate colours (white text on them must reach WCAG AA 4.5:1), the phone and e-mail, and bound
    text lengths; unknown keys are dropped."""
    cleaned: dict[str, Any] = {}
    for key in ("primary", "accent"):
        value = data.get(key)
        if value in (None, ""):
            continue
        cleaned[key] = checked_colour(value, key)
    for key, limit in TEXT_FIELDS.items():
        value = data.get(key)
        if value in (None, ""):
            continue
        text = _folded(key, value, limit)
        if text:
            cleaned[key] = _checked_text(key, text)
    return cleaned


def css_variables(branding: dict[str, Any]) -> dict[str, str]:
    """The ``--bp-*`` custom properties the layout declares for this tenant."""
    colours = {**DEFAULT_COLOURS, **{k: v for k, v in branding.items() if k in DEFAULT_COLOURS}}
    return {f"--bp-{name}": value for name, value in colours.items()}
