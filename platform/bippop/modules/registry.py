"""Which modules are installed (entry points ``bippop.modules``) and which a tenant has switched on.

A module is discovered once per process. One that fails to load is logged and left out; its
requests stay in the database and are hidden from pages (``visible_modules``), never a crash.
A tenant's choice is the setting ``modules.enabled`` (a list of slugs); without it every
installed module is on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Setting
from bippop.modules.contract import ModuleManifest

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "bippop.modules"
ENABLED_SETTING = "modules.enabled"


@functools.cache
def installed_modules() -> dict[str, ModuleManifest]:
    """Every module installed in this environment, by slug, in a stable order."""
    found: dict[str, ModuleManifest] = {}
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            manifest = entry.load()
            if callable(manifest) and not isinstance(manifest, ModuleManifest):
                manifest = manifest()
        except Exception as exc:  # a broken third-party module must not take the platform down
            log.error("module_load_failed", entry_point=entry.name, error=f"{type(exc).__name__}: {exc}")
            continue
        if not isinstance(manifest, ModuleManifest):
            log.error("module_not_a_manifest", entry_point=entry.name)
            continue
        if manifest.slug in found:
            log.error("module_slug_taken", slug=manifest.slug, entry_point=entry.name)
            continue
        found[manifest.slug] = manifest
    return dict(sorted(found.items(), key=lambda item: (item[1].position, item[0])))


def refresh() -> None:
    """Forget what was discovered (tests install a module, then look again)."""
    installed_modules.cache_clear()


def template_dirs() -> list[Path]:
    return [m.templates for m in installed_modules().values() if m.templates is not None]


def module(slug: str) -> ModuleManifest | None:
    return installed_modules().get(slug)


async def enabled_slugs(session: AsyncSession) -> list[str]:
    installed = installed_modules()
    value = await session.scalar(select(Setting.value).where(Setting.key == ENABLED_SETTING))
    if value is None:
        return list(installed)
    return [slug for slug in value if slug in installed]


async def enabled_modules(session: AsyncSession) -> list[ModuleManifest]:
    installed = installed_modules()
    return [installed[slug] for slug in await enabled_slugs(session)]


async def set_enabled(session: AsyncSession, slugs: Iterable[str]) -> list[str]:
    """Switch modules on (the others off); unknown slugs are refused with ValueError."""
    installed = installed_modules()
    chosen = list(dict.fromkeys(slugs))
    unknown = [s for s in chosen if s not in installed]
    if unknown:
        raise ValueError(f"unknown modules: {', '.join(unknown)}")
    statement = insert(Setting).values(key=ENABLED_SETTING, value=chosen)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Setting.key], set_={"value": statement.excluded.value}
        )
    )
    return chosen


def visible_modules(enabled: Iterable[str]) -> frozenset[str]:
    """Slugs whose requests pages may show: enabled for the tenant *and* still installed. Requests of a
    module switched off or uninstalled stay in the database, hidden."""
    installed = installed_modules()
    return frozenset(slug for slug in enabled if slug in installed)
