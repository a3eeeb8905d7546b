"""A form's CSRF token comes from the page's context: a template that imports the ``csrf`` macro
without ``with context`` writes an empty token, and its form is refused when sent."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

THEMES = Path(__file__).resolve().parents[2] / "themes"
IMPORT = re.compile(r'{%-?\s*(from\s+"forms\.html"\s+import[^%]*|import\s+"forms\.html"[^%]*)%}')


def test_every_template_takes_the_form_macros_with_the_page_context() -> None:
    blind = []
    for template in THEMES.rglob("*.html"):
        for statement in IMPORT.findall(template.read_text(encoding="utf-8")):
            takes_csrf = "csrf" in statement or statement.startswith("import")
            if takes_csrf and "with context" not in statement:
                blind.append(f"{template.relative_to(THEMES)}: {statement.strip()}")
    assert not blind, blind


def test_without_context_the_token_is_empty_so_the_check_above_matters() -> None:
    loader = jinja2.FileSystemLoader(str(THEMES / "base" / "templates"))
    env = jinja2.Environment(loader=loader, autoescape=True)
    env.globals.update(_=lambda s, **k: s, ngettext=lambda s, p, n, **k: s)
    blind = env.from_string('{% from "forms.html" import csrf %}{{ csrf() }}')
    seeing = env.from_string('{% from "forms.html" import csrf with context %}{{ csrf() }}')
    assert 'value=""' in blind.render(csrf_token="t0k3n")
    assert 'value="t0k3n"' in seeing.render(csrf_token="t0k3n")
