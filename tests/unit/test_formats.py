"""Numbers, durations and days in the page's language (``web.formats``, the templates' filters)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal

import pytest

from bippop.web import formats, i18n
from bippop.web.templates import ThemeEngines


@pytest.fixture(params=["fr", "en"])
def locale(request: pytest.FixtureRequest) -> Iterator[str]:
    token = i18n.current_locale.set(request.param)
    yield request.param
    i18n.current_locale.reset(token)


def test_numbers(locale: str) -> None:
    expected = {"fr": ("1,0", "3703,5", "2,3", "12"), "en": ("1.0", "3703.5", "2.3", "12")}[locale]
    assert (
        formats.number(1.0),
        formats.number(3703.5),
        formats.number(2.34, 1),
        formats.number(12),
    ) == expected
    assert formats.number(None) == "—"


def test_money(locale: str) -> None:
    assert formats.money("12.5") == {"fr": "12,50\xa0€", "en": "€12.50"}[locale]
    assert formats.money(None) == "—"


def test_durations(locale: str) -> None:
    ninety = {"fr": "1 h 30", "en": "1 h 30 min"}[locale]
    assert formats.duration(90) == ninety
    assert (
        formats.duration(120) == "2 h"
        and formats.duration(45) == "45 min"
        and formats.duration(5.6) == "6 min"
    )


def test_days_and_moments(locale: str) -> None:
    moment = datetime.datetime(2026, 12, 2, 23, 30, tzinfo=datetime.UTC)  # already the 3rd in Paris
    assert formats.day(moment) == "03/12/2026"  # day first in English too: British conventions
    assert formats.day(moment, "medium") == {"fr": "3 déc. 2026", "en": "3 Dec 2026"}[locale]
    assert formats.moment(moment) == {"fr": "03/12/2026 00:30", "en": "03/12/2026, 00:30"}[locale]
    assert formats.day(None) == formats.moment(None) == ""


def test_the_templates_have_the_filters() -> None:
    from pathlib import Path

    engines = ThemeEngines(Path(__file__).resolve().parents[2] / "themes")
    env = engines.environment("base")
    token = i18n.current_locale.set("fr")
    try:
        template = env.from_string("{{ 1.5 | number }} · {{ 90 | duration }} · {{ 2.26 | number(1) }}")
        assert template.render() == "1,5 · 1 h 30 · 2,3"
    finally:
        i18n.current_locale.reset(token)


def test_remembered_figures_keep_their_type_and_language() -> None:
    """What Babel wrote is remembered per value, type and language: -0.0 and 0.0 are equal keys to a
    plain cache (written apart), and the French figure must not be served to an English page."""
    moment = datetime.datetime(2026, 12, 2, 13, 30, tzinfo=datetime.UTC)
    written = {}
    for language in ("fr", "en", "fr"):
        token = i18n.current_locale.set(language)
        try:
            written.setdefault(language, []).append(
                (
                    formats.number(1),
                    formats.number(1.0),
                    formats.number(Decimal("1")),
                    formats.number(0.0) + " " + formats.number(-0.0),
                    formats.moment(moment),
                    formats.day(moment, "medium"),
                )
            )
        finally:
            i18n.current_locale.reset(token)
    assert (
        written["fr"][0]
        == written["fr"][1]
        == ("1", "1,0", "1,0", "0,0 -0,0", "02/12/2026 14:30", "2 déc. 2026")
    )
    assert written["en"][0] == ("1", "1.0", "1.0", "0.0 -0.0", "02/12/2026, 14:30", "2 Dec 2026")
