"""One Jinja environment per theme, built once.

A loader that switched per request would let one tenant's cached template serve
another; instead each theme gets its own environment whose loader searches the
theme, then its parents, then ``base``. Themes are few and fixed at start, so
memory does not grow with the number of tenants.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import jinja2
from jinja2_fragments import render_block

from bippop.web import formats, i18n

BASE_THEME = "base"


class ThemeError(RuntimeError):
    pass


def _theme_chain(themes_dir: Path, name: str) -> list[Path]:
    chain: list[Path] = []
    current: str | None = name
    while current:
        folder = themes_dir / current
        if not folder.is_dir() or folder in chain:
            raise ThemeError(f"theme {current!r} not found (or cyclic) under {themes_dir}")
        chain.append(folder)
        manifest = folder / "theme.toml"
        parent = tomllib.loads(manifest.read_text()).get("parent") if manifest.exists() else None
        current = parent or (None if current == BASE_THEME else BASE_THEME)
    return chain


class ThemeEngines:
    def __init__(
        self, themes_dir: Path, globals_: dict[str, Any] | None = None, extra_dirs: list[Path] | None = None
    ) -> None:
        self.themes_dir = themes_dir
        self.chains: dict[str, list[Path]] = {}
        self.environments: dict[str, jinja2.Environment] = {}
        for folder in sorted(p for p in themes_dir.iterdir() if (p / "templates").is_dir()):
            chain = _theme_chain(themes_dir, folder.name)
            self.chains[folder.name] = chain
            env = jinja2.Environment(
                # Modules' own templates come last: a theme may override any of them.
                loader=jinja2.FileSystemLoader(
                    [str(p / "templates") for p in chain] + [str(p) for p in extra_dirs or ()]
                ),
                autoescape=jinja2.select_autoescape(("html", "xml")),
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,
            )
            env.install_gettext_callables(i18n._, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
            env.filters["role_label"] = i18n.role_label
            env.filters.update(formats.FILTERS)
            env.globals.update(globals_ or {})
            self.environments[folder.name] = env
        if BASE_THEME not in self.environments:
            raise ThemeError(f"no base theme in {themes_dir}")

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
