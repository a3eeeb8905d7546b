"""Translations: the catalogue is up to date, French is complete, and the pages really come out in French.

When a test here fails after a template or code change, refresh the catalogues
(see docs/translations.md)::

    .venv/bin/pybabel extract -F babel.cfg -k _ -k ngettext:1,2 \
        --project="Bip Pop" --copyright-holder="Bip Pop" -o platform/bippop/locales/messages.pot .
    .venv/bin/pybabel update -i platform/bippop/locales/messages.pot -d platform/bippop/locales

then translate every new or fuzzy entry in ``fr/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from markupsafe import escape

from bippop.web import i18n
from bippop.web.templates import ThemeEngines

ROOT = Path(__file__).resolve().parents[2]
LOCALES_DIR = ROOT / "platform" / "bippop" / "locales"
POT = LOCALES_DIR / "messages.pot"
THEMES_DIR = ROOT / "themes"
# Pages only: forms.html holds macros that other templates import.
BASE_TEMPLATES = sorted(
    p.name for p in (THEMES_DIR / "base" / "templates").glob("*.html") if p.name not in ("forms.html",)
)

EXTRACT_CMD = (
    '.venv/bin/pybabel extract -F babel.cfg -k _ -k ngettext:1,2 --project="Bip Pop" '
    '--copyright-holder="Bip Pop" -o platform/bippop/locales/messages.pot .'
)
UPDATE_CMD = ".venv/bin/pybabel update -i platform/bippop/locales/messages.pot -d platform/bippop/locales"
HOW_TO_FIX = (
    f"Run, from the project root:\n  {EXTRACT_CMD}\n  {UPDATE_CMD}\n"
    "then translate every new entry in platform/bippop/locales/fr/LC_MESSAGES/messages.po "
    "(see docs/translations.md)."
)

PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


def _load(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _ids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {message.id for message in catalog if message.id}


def _placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


# (a) French is complete ------------------------------------------------------------------------


def test_every_message_has_a_french_translation() -> None:
    pot = _load(POT)
    fr = _load(LOCALES_DIR / "fr" / "LC_MESSAGES" / "messages.po", "fr")
    assert pot.get("How it works") is not None, "the catalogue template looks empty"
    assert not fr.fuzzy, "the header of fr/messages.po is marked fuzzy"

    problems: list[str] = []
    missing = _ids(pot) - _ids(fr)
    if missing:
        problems.append(f"not in fr/messages.po (run `pybabel update`): {sorted(map(str, missing))}")
    stale = _ids(fr) - _ids(pot)
    if stale:
        problems.append(f"in fr/messages.po but no longer in messages.pot: {sorted(map(str, stale))}")

    for message in fr:
        if not message.id:
            continue
        label = repr(message.id)
        if message.fuzzy:
            problems.append(f"{label} is marked fuzzy: check the translation and remove the flag")
        if message.pluralizable:
            forms = list(message.string) if isinstance(message.string, tuple) else [message.string]
            if len(forms) != fr.num_plurals or not all(form and form.strip() for form in forms):
                problems.append(f"{label} needs all {fr.num_plurals} plural forms translated")
            expected = _placeholders(message.id[1])
            for form in forms:
                if form and _placeholders(form) != expected:
                    problems.append(f"{label}: placeholders of {form!r} differ from {dict(expected)}")
        else:
            if not (message.string and message.string.strip()):
                problems.append(f"{label} has no French translation")
            elif _placeholders(message.string) != _placeholders(message.id):
                problems.append(f"{label}: placeholders of {message.string!r} differ from the English")
    assert not problems, "\n".join(problems) + "\n\n" + HOW_TO_FIX


def test_english_catalogue_lists_every_message() -> None:
    en = _load(LOCALES_DIR / "en" / "LC_MESSAGES" / "messages.po", "en")
    missing = _ids(_load(POT)) - _ids(en)
    assert not missing, f"not in en/messages.po: {sorted(map(str, missing))}\n\n{HOW_TO_FIX}"


# (b) The template is up to date ----------------------------------------------------------------


def test_pot_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_",
            "-k",
            "ngettext:1,2",
            "-o",
            str(fresh),
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    extracted, committed = _ids(_load(fresh)), _ids(_load(POT))
    new = sorted(map(str, extracted - committed))
    gone = sorted(map(str, committed - extracted))
    assert extracted == committed, (
        f"platform/bippop/locales/messages.pot is out of date.\n"
        f"New strings in the code or templates: {new}\nStrings no longer used: {gone}\n\n{HOW_TO_FIX}"
    )


# (c) Loading and choosing a language -----------------------------------------------------------


def test_french_catalogue_is_loaded() -> None:
    fr = i18n.translations("fr")
    assert fr.gettext("How it works") == "Comment ça marche"
    volunteers = ("%(num)d volunteer has joined so far.", "%(num)d volunteers have joined so far.")
    assert fr.ngettext(*volunteers, 1) == "%(num)d bénévole a déjà rejoint Bip Pop."
    assert fr.ngettext(*volunteers, 2) == "%(num)d bénévoles ont déjà rejoint Bip Pop."
    assert i18n.translations("en").gettext("How it works") == "How it works"


def test_module_helpers_follow_the_current_locale() -> None:
    token = i18n.current_locale.set("fr")
    try:
        assert i18n._("How it works") == "Comment ça marche"
        i18n.current_locale.set("en")
        assert i18n._("How it works") == "How it works"
    finally:
        i18n.current_locale.reset(token)


@pytest.mark.parametrize(
    ("query", "cookie", "default", "expected"),
    [
        ("en", "fr", "fr", "en"),  # the link wins over the cookie
        ("fr", "en", "en", "fr"),
        (None, "en", "fr", "en"),  # then the remembered choice
        (None, None, "en", "en"),  # then the tenant's default
        (None, None, "fr", "fr"),
        ("de", "en", "fr", "en"),  # unknown values are ignored
        ("de", "xx", "en", "en"),
        ("", "", "fr", "fr"),
        (None, None, "klingon", "fr"),  # and an unknown default falls back to French
    ],
)
def test_pick_locale(query: str | None, cookie: str | None, default: str, expected: str) -> None:
    assert i18n.pick_locale(query, cookie, default) == expected


def test_pick_locale_default_is_french() -> None:
    assert i18n.DEFAULT_LOCALE == "fr"
    assert i18n.pick_locale(None, None) == "fr"


# (d) Pages come out in the chosen language -----------------------------------------------------

TENANT = SimpleNamespace(
    name="Compiègne",
    slug="compiegne",
    kind="commune",
    theme="base",
    branding={},
    status="active",
)
FULL_BRANDING = {
    "contact_phone": "03 44 40 72 00",
    "contact_email": "mairie@example.fr",
    "contact_address": "Place de l'Hôtel de Ville, 60200 Compiègne",
}
# Each template with the contexts that reach all its branches.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "contact.html": [{}, {"branding": FULL_BRANDING}],
    "error.html": [{"status": 404}, {"status": 500}, {"status": 400}],
    "unavailable.html": [{"reason": "suspended"}, {"reason": "preparing"}],
    "public_home.html": [{"tenant": None}],
}
CASES = [(name, i, v) for name in BASE_TEMPLATES for i, v in enumerate(VARIANTS.get(name, [{}]))]


@pytest.fixture(scope="module")
def engines() -> ThemeEngines:
    return ThemeEngines(THEMES_DIR)


def _context(locale: str, **overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "site": None,
        "tenant": TENANT,
        "branding": {},
        "kind_label": "Commune",
        "css_variables": {},
        "static": lambda path: "/static/base/" + path,
        "locale": locale,
        "locale_names": i18n.LOCALE_NAMES,
        "current_path": "/",
        "version": "0",
        "base_domain": "localhost",
        "volunteers": 2,
        "reason": "suspended",
        "status": 404,
    }
    context.update(overrides)
    return context


def _render(engines: ThemeEngines, template: str, locale: str, **overrides: Any) -> str:
    token = i18n.current_locale.set(locale)
    try:
        return engines.render("base", template, _context(locale, **overrides))
    finally:
        i18n.current_locale.reset(token)


def _english_fragments() -> dict[str, str]:
    """Pieces of English text (between placeholders) whose French differs, keyed by fragment."""
    fr = _load(LOCALES_DIR / "fr" / "LC_MESSAGES" / "messages.po", "fr")
    fragments: dict[str, str] = {}
    for message in fr:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue  # the same word in both languages ("Contact")
            for piece in PLACEHOLDER.split(english):
                piece = piece.strip()
                if len(piece) >= 4 and not any(piece in s for s in strings):
                    fragments[piece] = english
    return fragments


READ_ATTRIBUTES = re.compile(r'\b(?:aria-label|title|alt|placeholder)="([^"]*)"')


def _text_read_by_people(html: str) -> str:
    """The page's text and the attributes people read (labels, titles, placeholders): not URLs or other
    markup, not the language switcher's "English" (in English on purpose), not the sample data."""
    html = re.sub(r'<a\b[^>]*\blang="(?!fr)[a-z]+"[^>]*>.*?</a>', " ", html, flags=re.S)
    read = " ".join(READ_ATTRIBUTES.findall(html))
    text = re.sub(r"<[^>]+>", " ", html) + " " + read
    for value in FULL_BRANDING.values():
        text = text.replace(str(escape(value)), " ").replace(value, " ")
    return text


@pytest.mark.parametrize(("template", "variant", "overrides"), CASES)
def test_french_pages_have_no_english_left(
    engines: ThemeEngines, template: str, variant: int, overrides: dict[str, Any]
) -> None:
    html = _render(engines, template, "fr", **overrides)
    assert '<html lang="fr">' in html
    text = _text_read_by_people(html)
    # Whole words only: "tenant" is English, but not inside « maintenant ».
    leftovers = {
        english
        for piece, english in _english_fragments().items()
        if any(re.search(rf"(?<!\w){re.escape(form)}(?!\w)", text) for form in (piece, str(escape(piece))))
    }
    assert not leftovers, f"{template} still shows English in French: {sorted(leftovers)}\n\n{HOW_TO_FIX}"


@pytest.mark.parametrize(("template", "variant", "overrides"), CASES)
def test_english_pages_are_in_english(
    engines: ThemeEngines, template: str, variant: int, overrides: dict[str, Any]
) -> None:
    html = _render(engines, template, "en", **overrides)
    assert '<html lang="en">' in html
    assert "Skip to main content" in html
    assert "Aller directement au contenu" not in html


def test_home_page_in_both_languages(engines: ThemeEngines) -> None:
    fr = _render(engines, "home.html", "fr")
    assert "Comment ça marche" in fr
    assert "How it works" not in fr
    assert "Bienvenue sur Bip Pop Compiègne" in fr
    assert "2 bénévoles ont déjà rejoint Bip Pop." in fr
    assert "1 bénévole a déjà rejoint Bip Pop." in _render(engines, "home.html", "fr", volunteers=1)

    en = _render(engines, "home.html", "en")
    assert "How it works" in en
    assert "Comment ça marche" not in en
    assert "2 volunteers have joined so far." in en
    assert "1 volunteer has joined so far." in _render(engines, "home.html", "en", volunteers=1)


def test_placeholders_are_filled_in_french(engines: ThemeEngines) -> None:
    contact = _render(engines, "contact.html", "fr", branding=FULL_BRANDING)
    assert 'aria-label="Coordonnées de Compiègne"' in contact
    assert "Un service proposé par Compiègne." in contact
    public = _render(engines, "public_home.html", "fr", tenant=None)
    assert "compiegne.localhost" in public
    assert "%(" not in contact + public
