"""One Jinja environment per theme, built once.

A loader that switched per request would let one tenant's cached template serve
another; instead each theme gets its own environment whose loader searches the
theme, then its parents, then ``base``. Themes are few and fixed at start, so
memory does not grow with the number of tenants. Each theme's ``theme.toml``
(label, parent, default colours and fonts) is read once too (``ThemeInfo``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.runtime
from jinja2_fragments import render_block
from markupsafe import Markup

from bippop.web import formats, i18n

BASE_THEME = "base"


class ThemeError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class ThemeInfo:
    """What ``theme.toml`` says of a theme, its parents' colours and fonts filling what it leaves out."""

    name: str
    label: str
    parent: str | None
    colours: Mapping[str, str]
    fonts: Mapping[str, str]
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)  # language → label
    stylesheet: bool = False  # the theme ships static/css/theme.css, loaded after base.css

    def label_in(self, locale: str) -> str:
        """The label in ``locale`` when theme.toml gives one, else the default ``label``."""
        return self.labels.get(locale) or self.label

    def css_variables(self) -> dict[str, str]:
        """The theme's defaults as ``--bp-*`` custom properties (``--bp-primary``, ``--bp-font-body`` …)."""
        return {
            **{f"--bp-{name}": value for name, value in self.colours.items()},
            **{f"--bp-font-{name}": value for name, value in self.fonts.items()},
        }


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "theme.toml"
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: {exc}") from None


def _labels(manifest: dict[str, Any], name: str) -> tuple[str, dict[str, str]]:
    """``label = "…"`` or ``label = {fr = "…", en = "…"}``: (the default label, the label by language)."""
    label = manifest.get("label", manifest.get("name", name))
    if isinstance(label, dict):
        labels = {str(k): str(v) for k, v in label.items() if v}
        return labels.get("en") or next(iter(labels.values()), name), labels
    return str(label), {}


def _theme_info(name: str, chain: list[Path]) -> ThemeInfo:
    colours: dict[str, str] = {}
    fonts: dict[str, str] = {}
    for folder in reversed(chain):  # base first, the theme itself last
        manifest = _manifest(folder)
        colours.update({str(k): str(v) for k, v in manifest.get("colours", {}).items()})
        fonts.update({str(k): str(v) for k, v in manifest.get("fonts", {}).items()})
    label, labels = _labels(_manifest(chain[0]), name)
    return ThemeInfo(
        name=name,
        label=label,
        labels=labels,
        parent=chain[1].name if len(chain) > 1 else None,
        colours=colours,
        fonts=fonts,
        stylesheet=any((p / "static" / "css" / "theme.css").is_file() for p in chain),
    )


def _theme_chain(themes_dir: Path, name: str) -> list[Path]:
    chain: list[Path] = []
    current: str | None = name
    while current:
        folder = themes_dir / current
        if not folder.is_dir() or folder in chain:
            raise ThemeError(f"theme {current!r} not found (or cyclic) under {themes_dir}")
        chain.append(folder)
        parent = _manifest(folder).get("parent")
        current = parent or (None if current == BASE_THEME else BASE_THEME)
    return chain


def _loader(chain: list[Path], extra_dirs: list[Path]) -> jinja2.BaseLoader:
    """The theme first, then its parents; modules' own templates come last (a theme may override any of
    them). ``"base:home.html"`` names one theme's file, so an override can extend what it overrides."""
    return jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader([str(p / "templates") for p in chain] + [str(p) for p in extra_dirs]),
            jinja2.PrefixLoader(
                {p.name: jinja2.FileSystemLoader(str(p / "templates")) for p in chain}, delimiter=":"
            ),
        ]
    )


# The templates' ``_()``, ``gettext`` and ``ngettext`` (``{% trans %}`` calls the last two): what the
# i18n extension's "newstyle" callables do — the translation, made Markup under autoescape, then always
# ``%``-formatted with the keyword arguments — but one call where the extension makes three through the
# context (about 11 µs a string, 47 strings on the volunteer's dashboard). A string with no ``%`` and
# no arguments formats to itself, so it is not formatted.
@jinja2.pass_eval_context
def template_gettext(eval_ctx: jinja2.nodes.EvalContext, string: str, /, **variables: Any) -> str:
    text: str = i18n._(string)
    if eval_ctx.autoescape:
        # Safe: the catalogue's own text (trusted, like the template), and only the arguments that
        # ``%`` puts in it are escaped: what the i18n extension does.
        text = Markup(text)  # noqa: S704
    return text % variables if variables or "%" in text else text


@jinja2.pass_eval_context
def template_ngettext(
    eval_ctx: jinja2.nodes.EvalContext, singular: str, plural: str, num: int, /, **variables: Any
) -> str:
    variables.setdefault("num", num)
    text: str = i18n.ngettext(singular, plural, num)
    if eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 (the catalogue's text, as above)
    return text % variables


def install_gettext(env: jinja2.Environment) -> None:
    """The i18n extension's callables (``pgettext`` …), then the two the templates use, made faster."""
    env.install_gettext_callables(i18n._, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(_=template_gettext, gettext=template_gettext, ngettext=template_ngettext)


@jinja2.pass_context
def module_card(context: jinja2.runtime.Context, module: Any, details: Any) -> Markup:
    """A module's card of a request (its ``modules/<slug>/card.html``; nothing when it has none), given
    only what a card uses — the module, the request's details and the page's language — rather than
    the whole page's context, which an ``include`` copies for every card of a list."""
    environment = context.environment
    try:
        template = environment.get_template(f"modules/{module.slug}/card.html")
    except jinja2.TemplateNotFound:
        return Markup("")
    # What ``template.render`` does, but with the environment's globals copied as a plain dict:
    # ``render`` copies them out of a ``ChainMap``, which took half of a card's 33 µs.
    variables = {**environment.globals, "module": module, "details": details, "locale": context.get("locale")}
    try:
        html = environment.concat(template.root_render_func(template.new_context(variables, shared=True)))
    except Exception:
        environment.handle_exception()
    # Safe: the card is an .html template of this environment, escaped as it renders (autoescape).
    return Markup(html)  # noqa: S704


class ThemeEngines:
    def __init__(
        self, themes_dir: Path, globals_: dict[str, Any] | None = None, extra_dirs: list[Path] | None = None
    ) -> None:
        self.themes_dir = themes_dir
        self.chains: dict[str, list[Path]] = {}
        self.environments: dict[str, jinja2.Environment] = {}
        self.infos: dict[str, ThemeInfo] = {}
        for folder in sorted(p for p in themes_dir.iterdir() if (p / "templates").is_dir()):
            chain = _theme_chain(themes_dir, folder.name)
            self.chains[folder.name] = chain
            self.infos[folder.name] = _theme_info(folder.name, chain)
            env = jinja2.Environment(
                loader=_loader(chain, extra_dirs or []),
                autoescape=jinja2.select_autoescape(("html", "xml")),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,
            )
            install_gettext(env)
            env.filters["role_label"] = i18n.role_label
            env.filters.update(formats.FILTERS)
            env.globals["module_card"] = module_card
            env.globals.update(globals_ or {})
            self.environments[folder.name] = env
        if BASE_THEME not in self.environments:
            raise ThemeError(f"no base theme in {themes_dir}")

    def themes(self) -> list[ThemeInfo]:
        """Every theme a tenant may choose, ``base`` first, then by name."""
        return sorted(self.infos.values(), key=lambda info: (info.name != BASE_THEME, info.name))

    def theme_info(self, name: str) -> ThemeInfo:
        """The theme's description; an unknown name (a theme removed since) falls back to ``base``."""
        return self.infos.get(name) or self.infos[BASE_THEME]

    def environment(self, theme: str) -> jinja2.Environment:
        return self.environments.get(theme) or self.environments[BASE_THEME]

    def static_dirs(self, theme: str) -> list[Path]:
        return [
            p / "static" for p in self.chains.get(theme, self.chains[BASE_THEME]) if (p / "static").is_dir()
        ]

    def render(self, theme: str, template: str, context: dict[str, Any], block: str | None = None) -> str:
        env = self.environment(theme)
        if block is not None:
            return render_block(env, template, block, **context)
        return env.get_template(template).render(**context)
