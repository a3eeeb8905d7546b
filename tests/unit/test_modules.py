"""The eight built-in modules: each form validates what people type (messages next to the field, in
their language), each statistic counts what it says, each template renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from bippop.modules.contract import Field, Label, ModuleManifest
from bippop.modules.registry import installed_modules
from bippop.web import i18n
from bippop.web.templates import ThemeEngines

BUILT_IN = ("visits", "reading", "admin_help", "it_help", "walks", "errands", "events", "senior_junior")

GOOD = {
    "visits": {"frequency": "weekly", "interests": "belote, jardinage", "pets": "on"},
    "reading": {"where": "phone", "tastes": ["news", "poetry"]},
    "admin_help": {
        "administration": "caf",
        "topic": "Renouveler l'aide au logement",
        "deadline": "14/03/2027",
    },
    "it_help": {"device": "tablet", "problem": "Appeler mes petits-enfants en vidéo", "where": "home"},
    "walks": {"mobility_aid": "walker", "distance": "short"},
    "errands": {"shopping_list": "pain, lait, pommes", "budget": "25,50", "payment": "cash"},
    "events": {"event": "Repas des aînés du 12 décembre", "needs_transport": "on"},
    "senior_junior": {"direction": "give", "topic": "gardening"},
}


def test_all_built_in_modules_are_installed_in_order() -> None:
    assert tuple(installed_modules()) == BUILT_IN


@pytest.mark.parametrize("slug", BUILT_IN)
def test_good_input_is_cleaned(slug: str) -> None:
    manifest = installed_modules()[slug]
    clean, errors = manifest.validate(GOOD[slug])
    assert errors == {}
    for field in manifest.fields:
        if field.required:
            assert field.name in clean


@pytest.mark.parametrize("slug", BUILT_IN)
def test_empty_form_names_each_required_field_in_french_and_english(slug: str) -> None:
    manifest = installed_modules()[slug]
    token = i18n.current_locale.set("fr")
    try:
        _clean, errors = manifest.validate({})
    finally:
        i18n.current_locale.reset(token)
    required = {f.name for f in manifest.fields if f.required and f.kind != "boolean"}
    assert set(errors) == required
    token = i18n.current_locale.set("en")
    try:
        _clean, english = manifest.validate({})
    finally:
        i18n.current_locale.reset(token)
    assert set(english) == required
    assert all(message for message in english.values())


def test_field_kinds_refuse_bad_values() -> None:
    errands = installed_modules()["errands"]
    _clean, errors = errands.validate({**GOOD["errands"], "budget": "beaucoup", "payment": "bitcoin"})
    assert set(errors) == {"budget", "payment"}
    _clean, errors = errands.validate({**GOOD["errands"], "budget": "12.345"})
    assert "budget" in errors
    for odd in ("NaN", "Infinity", "-inf", "1e9999"):
        _clean, errors = errands.validate({**GOOD["errands"], "budget": odd})
        assert "budget" in errors, odd
    admin = installed_modules()["admin_help"]
    _clean, errors = admin.validate({**GOOD["admin_help"], "deadline": "31/02/2027"})
    assert "deadline" in errors
    _clean, errors = admin.validate({**GOOD["admin_help"], "topic": "x" * 401})
    assert "topic" in errors
    reading = installed_modules()["reading"]
    _clean, errors = reading.validate({**GOOD["reading"], "tastes": ["news", "horror"]})
    assert "tastes" in errors


def test_cleaned_values_are_normalised() -> None:
    clean, _ = installed_modules()["errands"].validate(GOOD["errands"])
    assert clean["budget"] == "25.50"
    clean, _ = installed_modules()["admin_help"].validate(GOOD["admin_help"])
    assert clean["deadline"] == "2027-03-14"
    clean, _ = installed_modules()["visits"].validate(GOOD["visits"])
    assert clean["pets"] is True


@pytest.mark.parametrize("slug", BUILT_IN)
def test_statistics_count_their_requests(slug: str) -> None:
    manifest = installed_modules()[slug]
    clean, _ = manifest.validate(GOOD[slug])
    requests = [
        {"status": "done", "details": clean, "duration_minutes": 90},
        {"status": "reported", "details": clean, "duration_minutes": 30},
        {"status": "cancelled", "details": clean, "duration_minutes": 60},
        {"status": "open", "details": {}, "duration_minutes": 60},
    ]
    assert manifest.statistics
    figures = {stat.key: stat.compute(requests) for stat in manifest.statistics}
    first = manifest.statistics[0]
    assert figures[first.key] == 2  # the first statistic of every module counts what was done
    for stat in manifest.statistics:
        assert str(stat.label)


def test_errands_statistic_sums_reimbursements() -> None:
    manifest = installed_modules()["errands"]
    stat = next(s for s in manifest.statistics if s.key == "amount_reimbursed")
    requests = [{"status": "done", "details": {"amount_reimbursed": "12.50"}, "duration_minutes": 60}] * 2
    assert stat.compute(requests) == 25.0


@pytest.mark.parametrize("slug", BUILT_IN)
@pytest.mark.parametrize("locale", ["fr", "en"])
def test_templates_render(slug: str, locale: str, repo_root: Path) -> None:
    manifest = installed_modules()[slug]
    engines = ThemeEngines(
        repo_root / "themes", extra_dirs=[manifest.templates] if manifest.templates else []
    )
    clean, _ = manifest.validate(GOOD[slug])
    token = i18n.current_locale.set(locale)
    try:
        intro = engines.render(
            "base",
            f"modules/{slug}/intro.html",
            {"locale": locale, "module": manifest, "details": clean, "france_services": None},
        )
        card = engines.render(
            "base", f"modules/{slug}/card.html", {"locale": locale, "module": manifest, "details": clean}
        )
    finally:
        i18n.current_locale.reset(token)
    assert "<p" in intro and "<p" in card
    assert "None" not in card


def test_describe_shows_labels_and_choice_names() -> None:
    manifest = installed_modules()["walks"]
    clean, _ = manifest.validate(GOOD["walks"])
    token = i18n.current_locale.set("fr")
    try:
        shown = dict(manifest.describe(clean))
    finally:
        i18n.current_locale.reset(token)
    assert shown["Aide à la marche"] == "Déambulateur"


def test_a_manifest_refuses_bad_declarations() -> None:
    with pytest.raises(ValueError):
        ModuleManifest("Bad Slug", Label("a", "a"), Label("b", "b"), "x", ())
    with pytest.raises(ValueError):
        ModuleManifest(
            "twice",
            Label("a", "a"),
            Label("b", "b"),
            "x",
            (Field("f", Label("f", "f")), Field("f", Label("f", "f"))),
        )
    with pytest.raises(ValueError):
        ModuleManifest("hooked", Label("a", "a"), Label("b", "b"), "x", (), hooks={"on_coffee": None})  # type: ignore[dict-item]
