"""French by default, English on request. Catalogues are ``locales/<lang>/LC_MESSAGES/messages.po``.

Source strings are English; the French catalogue translates them. The ``.po``
files are read once at start (no compiled ``.mo`` to keep in sync).
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"
LOCALE_COOKIE = "bippop_lang"
LOCALE_NAMES = {"fr": "Français", "en": "English"}
LOCALES_DIR = Path(__file__).resolve().parents[1] / "locales"

current_locale: ContextVar[str] = ContextVar("bippop_locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> gettext.NullTranslations:
    po = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _(message: str) -> str:
    return translations(current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ngettext(singular, plural, n)


def pick_locale(query: str | None, cookie: str | None, default: str = DEFAULT_LOCALE) -> str:
    """An explicit choice (link, then remembered cookie) wins; otherwise the tenant's default."""
    for candidate in (query, cookie):
        if candidate in LOCALES:
            return str(candidate)
    return default if default in LOCALES else DEFAULT_LOCALE


def role_label(role: str) -> str:
    """A role's name for people (French in the UI, English in code)."""
    labels = {
        "beneficiary": _("Person helped"),
        "relative": _("Relative"),
        "volunteer": _("Volunteer"),
        "partner": _("Partner organisation"),
        "coordinator": _("Coordinator"),
        "tenant_admin": _("Administrator"),
        "coop_operator": _("Co-op operator"),
        "coop_admin": _("Co-op administrator"),
    }
    return labels.get(role, role)
