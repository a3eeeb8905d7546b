"""A tenant's branding is data: checked when set, turned into CSS custom properties when shown."""

from __future__ import annotations

import re
from typing import Any

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOURS = {"primary": "#1d4f91", "accent": "#a3314b"}
TEXT_FIELDS = {
    "tagline": 160,
    "contact_phone": 30,
    "contact_email": 254,
    "contact_address": 300,
    "logo_url": 500,
}
AA_NORMAL_TEXT = 4.5


class BrandingError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def clean_branding(data: dict[str, Any]) -> dict[str, Any]:
    """Validate colours (white text on them must reach WCAG AA 4.5:1) and bound text lengths."""
    cleaned: dict[str, Any] = {}
    for key in ("primary", "accent"):
        value = data.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not HEX_COLOUR.fullmatch(value):
            raise BrandingError(f"Couleur « {value} » invalide : format #rrggbb attendu.", field=key)
        ratio = contrast_ratio(value.lower(), "#ffffff")
        if ratio < AA_NORMAL_TEXT:
            raise BrandingError(
                f"La couleur {value} n'offre qu'un contraste de {ratio:.1f}:1 avec le texte blanc ; "
                f"il faut au moins {AA_NORMAL_TEXT}:1 (RGAA / WCAG AA). Choisissez une teinte plus foncée.",
                field=key,
            )
        cleaned[key] = value.lower()
    for key, limit in TEXT_FIELDS.items():
        value = data.get(key)
        if value in (None, ""):
            continue
        text = " ".join(str(value).split())
        if len(text) > limit:
            raise BrandingError(f"{key} : {limit} caractères au plus.", field=key)
        cleaned[key] = text
    return cleaned


def css_variables(branding: dict[str, Any]) -> dict[str, str]:
    """The ``--bp-*`` custom properties the layout declares for this tenant."""
    colours = {**DEFAULT_COLOURS, **{k: v for k, v in branding.items() if k in DEFAULT_COLOURS}}
    return {f"--bp-{name}": value for name, value in colours.items()}
