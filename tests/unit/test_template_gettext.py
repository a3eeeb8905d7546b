"""The templates' ``_()``, ``gettext`` and ``ngettext`` (``web.templates.install_gettext``) write what the
i18n extension's own "newstyle" callables write: the same snippets, both languages, escaped or not."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

from bippop.web import i18n
from bippop.web.templates import install_gettext, module_card

SNIPPETS = [
    '{{ _("Contact") }}',
    '{{ _("Volunteer") }} & {{ gettext("Relative") }}',
    '{{ _("100%% sure") }}',
    '{{ _("%(name)s, welcome", name=who) }}',
    '{{ _("up to %(km)s km", km=n) }} {{ _("Report the visit of %(date)s", date=who) }}',
    "{% trans %}Hello {{ who }}{% endtrans %}",
    "{% trans %}Nothing to report.{% endtrans %}",
    "{% trans count=n %}{{ count }} volunteer{% pluralize %}{{ count }} volunteers{% endtrans %}",
    '{{ ngettext("%(num)d person", "%(num)d people", n) }}',
    '{{ ngettext("%(num)d person of %(who)s", "%(num)d people of %(who)s", n, who=who) }}',
]
CONTEXTS: list[dict[str, Any]] = [{"who": "<b>Léa</b> & co", "n": 1}, {"who": "Marc", "n": 3}]


def _environment(*, autoescape: bool, fast: bool) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=autoescape, extensions=["jinja2.ext.i18n"])
    if fast:
        install_gettext(env)
    else:
        env.install_gettext_callables(i18n._, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


@pytest.fixture(params=["fr", "en"])
def locale(request: pytest.FixtureRequest) -> Iterator[str]:
    token = i18n.current_locale.set(request.param)
    yield request.param
    i18n.current_locale.reset(token)


@pytest.mark.parametrize("autoescape", [True, False], ids=["html", "text"])
@pytest.mark.parametrize("snippet", SNIPPETS)
def test_the_same_as_the_extensions_callables(locale: str, autoescape: bool, snippet: str) -> None:
    reference = _environment(autoescape=autoescape, fast=False).from_string(snippet)
    ours = _environment(autoescape=autoescape, fast=True).from_string(snippet)
    for context in CONTEXTS:
        assert ours.render(**context) == reference.render(**context)


def test_translated_escaped_and_formatted() -> None:
    token = i18n.current_locale.set("fr")
    try:
        html = _environment(autoescape=True, fast=True)
        text = _environment(autoescape=False, fast=True)
        snippet = (
            '{{ _("Volunteer") }}: {{ _("Report the visit of %(date)s", date=who) }}; {{ _("100%% sure") }}'
        )
        assert (
            html.from_string(snippet).render(who="<i>")
            == "Bénévole: Faire le compte rendu de la visite du &lt;i&gt;; 100% sure"
        )
        assert (
            text.from_string(snippet).render(who="<i>")
            == "Bénévole: Faire le compte rendu de la visite du <i>; 100% sure"
        )
    finally:
        i18n.current_locale.reset(token)


def test_a_modules_card_sees_the_globals_and_only_what_it_is_given() -> None:
    """``module_card`` renders ``modules/<slug>/card.html`` with the environment's globals (``_``),
    the module, the details and the page's language, not the page's other variables; nothing for a
    module without a card; a card's error is raised as the template's own."""
    env = jinja2.Environment(
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        loader=jinja2.DictLoader(
            {
                "modules/visits/card.html": "{{ _('Volunteer') }}|{{ module.slug }}|{{ details.a }}|"
                "{{ locale }}|{{ secret is defined }}",
                "modules/broken/card.html": "{{ details.a.b.c() }}",
            }
        ),
    )
    install_gettext(env)
    env.globals["module_card"] = module_card
    page = env.from_string("{{ module_card(module, details) }}")
    token = i18n.current_locale.set("fr")
    try:
        visits = SimpleNamespace(slug="visits")
        assert page.render(module=visits, details={"a": "<x>"}, locale="fr", secret=1) == (
            "Bénévole|visits|&lt;x&gt;|fr|False"
        )
        assert page.render(module=SimpleNamespace(slug="none"), details={}, locale="fr") == ""
        with pytest.raises(jinja2.UndefinedError):
            page.render(module=SimpleNamespace(slug="broken"), details={}, locale="fr")
    finally:
        i18n.current_locale.reset(token)
