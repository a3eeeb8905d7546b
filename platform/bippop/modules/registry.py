"""Which modules are installed (entry points ``bippop.modules``) and which a tenant has switched on.

A module is discovered once per process. One that fails to load is logged and left out; its
requests stay in the database and are hidden from pages (``visible_modules``), never a crash.
A tenant's choice is the setting ``modules.enabled`` (a list of slugs); without it every
installed module is on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Setting
from bippop.accounts.permissions import CORE_PERMISSIONS
from bippop.modules.contract import ModuleManifest
from bippop.notifications.wording import core_titles

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "bippop.modules"
ENABLED_SETTING = "modules.enabled"


@functools.cache
def installed_modules() -> dict[str, ModuleManifest]:
    """Every module installed in this environment, by slug, in a stable order."""
    found: dict[str, ModuleManifest] = {}
    # The platform's own modules first: a package installed beside cannot take one of their slugs.
    entries = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (not _builtin(e), e.name))
    for entry in entries:
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
        refusal = clash(manifest, found.values())
        if refusal:
            log.error("module_refused", slug=manifest.slug, entry_point=entry.name, reason=refusal)
            continue
        found[manifest.slug] = manifest
    return dict(sorted(found.items(), key=lambda item: (item[1].position, item[0])))


def _builtin(entry: EntryPoint) -> bool:
    return entry.value.startswith("bippop_modules.")


def clash(manifest: ModuleManifest, others: Iterable[ModuleManifest]) -> str | None:
    """Why a module may not join the others (it would take what belongs to the core or to another)."""
    core_actions = set(CORE_PERMISSIONS)
    taken_actions = core_actions | {p.action for m in others for p in m.permissions}
    actions = {p.action for p in manifest.permissions}
    if actions & taken_actions:
        return f"actions already taken: {sorted(actions & taken_actions)}"
    for link in manifest.links:
        if link.action is not None and link.action not in actions | core_actions:
            return f"link {link.path} names an unknown action {link.action!r}"
    taken_purposes = set(core_titles()) | {purpose for m in others for purpose in m.notices}
    if set(manifest.notices) & taken_purposes:
        return f"message purposes already taken: {sorted(set(manifest.notices) & taken_purposes)}"
    return None


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
