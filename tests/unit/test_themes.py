"""Theme engines: every named theme is listed with what its theme.toml says, overrides what it names and
inherits the rest, gets one environment of its own built once, and ships colours fit for white text."""

from __future__ import annotations

from pathlib import Path

import pytest

from bippop.config import REPO_ROOT
from bippop.tenants.branding import contrast_ratio
from bippop.web.templates import BASE_THEME, ThemeEngines, ThemeError

THEMES = REPO_ROOT / "themes"


@pytest.fixture(scope="module")
def engines() -> ThemeEngines:
    return ThemeEngines(THEMES)


def test_the_shipped_themes_are_listed_base_first(engines: ThemeEngines) -> None:
    names = [info.name for info in engines.themes()]
    assert names[0] == BASE_THEME
    assert {"bocage", "littoral"} <= set(names)
    bocage = engines.theme_info("bocage")
    assert bocage.parent == "base" and bocage.label_in("fr").startswith("Bocage")
    assert bocage.colours["primary"] == "#2f5d3a" and "serif" in bocage.fonts["heading"]
    assert bocage.stylesheet and not engines.theme_info(BASE_THEME).stylesheet
    assert engines.theme_info("no-such-theme").name == BASE_THEME


@pytest.mark.parametrize("name", ["base", "bocage", "littoral"])
def test_each_theme_carries_white_text_at_aa_with_system_fonts(engines: ThemeEngines, name: str) -> None:
    info = engines.theme_info(name)
    for colour in info.colours.values():
        assert contrast_ratio(colour, "#ffffff") >= 4.5, (name, colour)
    assert {"body", "heading"} <= set(info.fonts)
    for stack in info.fonts.values():
        assert "url(" not in stack and stack.rstrip().endswith(("sans-serif", "serif")), stack
    variables = info.css_variables()
    assert variables["--bp-primary"] == info.colours["primary"] and "--bp-font-body" in variables


def test_one_environment_per_theme_built_once(engines: ThemeEngines) -> None:
    assert set(engines.environments) == {info.name for info in engines.themes()}
    assert len({id(env) for env in engines.environments.values()}) == len(engines.environments)
    assert engines.environment("bocage") is engines.environment("bocage")
    assert engines.environment("unknown") is engines.environment(BASE_THEME)


def write_theme(root: Path, name: str, toml: str, templates: dict[str, str]) -> None:
    folder = root / name
    (folder / "templates").mkdir(parents=True)
    (folder / "theme.toml").write_text(toml)
    for path, text in templates.items():
        (folder / "templates" / path).write_text(text)


def test_a_theme_overrides_what_it_names_extends_its_parent_and_inherits_the_rest(tmp_path: Path) -> None:
    write_theme(
        tmp_path,
        "base",
        'name = "base"\n[colours]\nprimary = "#1d4f91"\naccent = "#a3314b"\n[fonts]\nbody = "serif"\n',
        {"page.html": "[{% block hero %}base hero{% endblock %}]", "other.html": "base other"},
    )
    write_theme(
        tmp_path,
        "sea",
        'label = { fr = "Mer", en = "Sea" }\nparent = "base"\n[colours]\nprimary = "#00567a"\n',
        {"page.html": '{% extends "base:page.html" %}{% block hero %}sea hero{% endblock %}'},
    )
    engines = ThemeEngines(tmp_path)
    assert engines.render("sea", "page.html", {}) == "[sea hero]"
    assert engines.render("base", "page.html", {}) == "[base hero]"
    assert engines.render("sea", "other.html", {}) == "base other"
    sea = engines.theme_info("sea")
    assert sea.label == "Sea" and sea.label_in("fr") == "Mer"
    assert sea.colours == {"primary": "#00567a", "accent": "#a3314b"}  # the parent's accent
    assert sea.fonts == {"body": "serif"}


def test_a_broken_theme_stops_the_start(tmp_path: Path) -> None:
    write_theme(tmp_path, "base", 'name = "base"\n', {"page.html": "x"})
    write_theme(tmp_path, "loop", 'parent = "loop"\n', {"page.html": "y"})
    with pytest.raises(ThemeError):
        ThemeEngines(tmp_path)
    (tmp_path / "loop" / "theme.toml").write_text("parent = [")
    with pytest.raises(ThemeError):
        ThemeEngines(tmp_path)


def test_page_variables_start_from_the_theme_then_take_the_tenants_colours(engines: ThemeEngines) -> None:
    from bippop.web.pages import logo_src, theme_css_variables

    plain = theme_css_variables(engines, "littoral", {})
    assert plain["--bp-primary"] == "#00567a" and plain["--bp-accent"] == "#9b2f1f"
    branded = theme_css_variables(engines, "littoral", {"primary": "#3d5a2a", "tagline": "x"})
    assert branded["--bp-primary"] == "#3d5a2a" and branded["--bp-accent"] == "#9b2f1f"
    # Written raw into <style>: whatever could end the rule or the element is dropped.
    forged = theme_css_variables(engines, "base", {"primary": "#000;}</style><script>"})
    assert "<" not in forged["--bp-primary"] and ";" not in forged["--bp-primary"]
    assert logo_src({"logo_key": "k", "logo_version": 3, "logo_url": "https://x/l.png"}) == "/logo?v=3"
    assert logo_src({"logo_url": "https://x/l.png"}) == "https://x/l.png" and logo_src({}) is None
