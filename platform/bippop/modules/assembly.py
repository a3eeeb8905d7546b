"""What the installed modules bring to the platform, gathered from their manifests for the processes that
use it: the web application (routes behind a "module switched on" guard, menu links, permissions,
audit labels, templates), the worker and the scheduler (job modules), and every process that migrates
tenants (the Alembic branch of each module). The core asks here and never names a module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Router
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

from bippop.accounts import permissions
from bippop.accounts.services import audit_log
from bippop.db import chains
from bippop.modules.contract import Export, MenuLink, ModuleManifest
from bippop.modules.registry import installed_modules
from bippop.notifications import wording
from bippop.web.tenant_settings import tenant_settings


class ModuleSwitchedOn:
    """A guard on every route of a module: on a tenant that switched the module off (or on a host that is
    no tenant's), its pages do not exist (404), whoever asks."""

    def __init__(self, slug: str) -> None:
        self.slug = slug

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        site = connection.scope["state"].get("site")
        if site is None or site.tenant is None:
            raise NotFoundException()
        settings = await tenant_settings(connection)
        if self.slug not in settings.visible_modules(installed_modules()):
            raise NotFoundException()

    def __repr__(self) -> str:
        return f"ModuleSwitchedOn({self.slug!r})"


def module_routers() -> list[Router]:
    """One router per installed module holding its controllers, each behind ``ModuleSwitchedOn``."""
    return [
        Router(path="/", route_handlers=list(m.controllers), guards=[ModuleSwitchedOn(m.slug)])
        for m in installed_modules().values()
        if m.controllers
    ]


def register_permissions() -> None:
    """The installed modules' actions in the role × action matrix, their audit labels in the log's, their
    messages' wording in the notifications'."""
    modules = installed_modules().values()
    permissions.use_module_actions({p.action: p.roles for m in modules for p in m.permissions})
    audit_log.use_module_action_labels({a: label for m in modules for a, label in m.audit_labels.items()})
    wording.use_module_purposes({purpose: n for m in modules for purpose, n in m.notices.items()})


def register_migrations() -> None:
    """Each installed module's revisions: a branch of the tenant chain (those of modules gone, no more)."""
    chains.use_module_branches("tenant", [m.migrations for m in installed_modules().values() if m.migrations])


def prepare() -> None:
    """What every process does first (web app, worker, scheduler, command line): the installed modules'
    tables join the tenant chain and their actions join the permission matrix."""
    register_migrations()
    register_permissions()


def job_modules() -> tuple[str, ...]:
    return tuple(name for m in installed_modules().values() for name in m.jobs)


def menu_links(area: str, enabled: frozenset[str]) -> list[MenuLink]:
    return [
        link
        for slug, manifest in installed_modules().items()
        if slug in enabled
        for link in manifest.links
        if link.area == area
    ]


def skill_labels() -> dict[str, str]:
    return {
        skill: str(label) for m in installed_modules().values() for skill, label in m.skill_labels.items()
    }


def exports(enabled: frozenset[str]) -> Iterator[tuple[ModuleManifest, Export]]:
    for slug, manifest in installed_modules().items():
        if slug in enabled:
            for export in manifest.exports:
                yield manifest, export


def find_export(enabled: frozenset[str], slug: str, key: str) -> tuple[ModuleManifest, Export] | None:
    for manifest, export in exports(enabled):
        if manifest.slug == slug and export.key == key:
            return manifest, export
    return None
