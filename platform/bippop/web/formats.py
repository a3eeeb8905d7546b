"""Numbers, amounts, durations and dates written the page's way (« 1,5 » in French, « 1.5 » in English),
through Babel and the request's language: the templates' ``number``, ``money``, ``duration``, ``day``
and ``moment`` filters."""

from __future__ import annotations

import datetime
import functools
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import NumberPattern, format_currency, parse_pattern

from bippop.web import i18n
from bippop.web.local_time import LOCAL_TIME

# English pages of a French commune: British conventions (day first, 24-hour clock), not American ones.
BABEL_LOCALES = {"fr": "fr_FR", "en": "en_GB"}
# No grouping: a council's figures are small, and "3703,5" reads the same in both languages' tables.
INTEGER = "0"
DECIMAL = "0.0#"  # at least one decimal (an average or hours: 1,0), at most two (an amount)


def babel_locale() -> str:
    locale = i18n.current_locale.get()
    return BABEL_LOCALES.get(locale, locale)


# Babel's data, parsed once: ``format_decimal`` and the date functions otherwise look the locale up and
# parse the pattern on every call (a list of 30 distances spent more on that than on the rest of its
# template). The same Babel objects, the same results.
@functools.lru_cache(maxsize=8)
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@functools.lru_cache(maxsize=16)
def _number_pattern(pattern: str) -> NumberPattern:
    return parse_pattern(pattern)


# What Babel wrote, remembered: a page writes the same counts, distances and moments on every load
# (a number ~18 µs, a moment ~50 µs through Babel; a remembered one well under 1 µs). Values of
# different types (``typed``) are not assumed to be written alike, nor -0.0 like 0.0 (equal keys,
# written « -0,0 » and « 0,0 »).
FORMATTED_KEPT = 4096


@functools.lru_cache(maxsize=FORMATTED_KEPT, typed=True)
def _formatted_number(pattern: str, locale: str, value: int | float | Decimal, negative_zero: bool) -> str:
    return _number_pattern(pattern).apply(value, _locale(locale))


@functools.lru_cache(maxsize=FORMATTED_KEPT)
def _formatted_date(value: datetime.date, form: str, locale: str) -> str:
    return format_date(value, format=form, locale=_locale(locale))


@functools.lru_cache(maxsize=FORMATTED_KEPT)
def _formatted_moment(value: datetime.datetime, form: str, locale: str) -> str:
    return format_datetime(value, format=form, tzinfo=LOCAL_TIME, locale=_locale(locale))


def page_locale() -> Locale:
    """The Babel locale of the page's language."""
    return _locale(babel_locale())


def number(value: int | float | Decimal | None, digits: int | None = None) -> str:
    """``value`` in the page's language; ``digits`` fixes the decimals (``km``: one)."""
    if value is None:
        return "—"
    if digits is not None:
        pattern = INTEGER if digits <= 0 else "0." + "0" * digits
    else:
        pattern = INTEGER if isinstance(value, int) else DECIMAL
    negative_zero = value == 0 and str(value).startswith("-")
    return _formatted_number(pattern, babel_locale(), value, negative_zero)


def money(value: int | float | Decimal | str | None) -> str:
    """An amount in euros: « 12,50 € », « €12.50 »."""
    if value is None or value == "":
        return "—"
    return format_currency(Decimal(str(value)), "EUR", locale=page_locale())


def duration(minutes: int | float | None) -> str:
    """A length of time: « 1 h 30 », « 2 h », « 45 min » (English: « 1 h 30 min »)."""
    if minutes is None:
        return "—"
    total = round(minutes)
    hours, rest = divmod(total, 60)
    if not hours:
        return f"{rest} min"
    if not rest:
        return f"{hours} h"
    if i18n.current_locale.get() == "fr":
        return f"{hours} h {rest:02d}"
    return f"{hours} h {rest} min"


def day(value: datetime.date | datetime.datetime | None, form: str = "short") -> str:
    """A calendar day (a moment: its day in Paris): « 02/12/2026 »; ``form="medium"``: « 2 déc. 2026 »,
    « 2 Dec 2026 »."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = value.astimezone(LOCAL_TIME).date()
    return _formatted_date(value, form, babel_locale())


def moment(value: datetime.datetime | None, form: str = "short") -> str:
    """A moment, in Paris time: « 02/12/2026 14:30 » (English: « 02/12/2026, 14:30 »)."""
    if value is None:
        return ""
    return _formatted_moment(value, form, babel_locale())


FILTERS = {"number": number, "money": money, "duration": duration, "day": day, "moment": moment}
