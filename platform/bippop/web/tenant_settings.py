"""The tenant's settings every page needs (its default language, the service modules it switched on),
read once per request and cached with the tenant in Redis (``bippop:t:<id>:settings``), so no handler
reads them by hand and most requests read no ``settings`` row. A change forgets the cached copy after
its commit (``forget``); the copy also expires after five minutes, a bound on anything missed.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Container, Iterable
from typing import Any

from litestar.connection import ASGIConnection
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.tenants.context import TenantRef, tenant_cache_key
from bippop.tenants.resolution import Site
from bippop.tenants.tenant_settings import Setting
from bippop.web import i18n

CACHE_SECONDS = 300
DEFAULT_LOCALE_KEY = "default_locale"
ENABLED_MODULES_KEY = "modules.enabled"
KEYS = (DEFAULT_LOCALE_KEY, ENABLED_MODULES_KEY)


@dataclasses.dataclass(frozen=True)
class TenantSettings:
    default_locale: str = i18n.DEFAULT_LOCALE
    enabled_modules: tuple[str, ...] | None = None  # None: the council chose nothing, every module is on

    def visible_modules(self, installed: Iterable[str]) -> frozenset[str]:
        """Slugs whose pages and requests are shown: switched on *and* still installed."""
        available = list(installed)
        if self.enabled_modules is None:
            return frozenset(available)
        return frozenset(slug for slug in self.enabled_modules if slug in available)

    def is_on(self, slug: str, installed: Container[str]) -> bool:
        return slug in installed and (self.enabled_modules is None or slug in self.enabled_modules)


def _key(tenant: TenantRef) -> str:
    return tenant_cache_key("settings", tenant=tenant)


async def read_settings(session: AsyncSession) -> TenantSettings:
    """The settings from the tenant's own table (the session is scoped to the tenant)."""
    found = await session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(KEYS)))
    rows: dict[str, Any] = {key: value for key, value in found.all()}
    locale = rows.get(DEFAULT_LOCALE_KEY)
    enabled = rows.get(ENABLED_MODULES_KEY)
    return TenantSettings(
        default_locale=locale if locale in i18n.LOCALES else i18n.DEFAULT_LOCALE,
        enabled_modules=tuple(str(s) for s in enabled) if isinstance(enabled, list) else None,
    )


def _decoded(raw: bytes | str) -> TenantSettings | None:
    try:
        data: Any = json.loads(raw)
        enabled = data["enabled_modules"]
        return TenantSettings(
            default_locale=str(data["default_locale"]),
            enabled_modules=None if enabled is None else tuple(str(s) for s in enabled),
        )
    except (ValueError, KeyError, TypeError):
        return None  # written by another version: read again


async def tenant_settings(connection: ASGIConnection[Any, Any, Any, Any]) -> TenantSettings:
    """The request's tenant's settings: from this request, then Redis, then the tenant's table."""
    state = connection.scope["state"]
    known = state.get("tenant_settings")
    if isinstance(known, TenantSettings):
        return known
    site: Site | None = state.get("site")
    if site is None or site.tenant is None:
        return TenantSettings()
    tenant = site.tenant
    redis: Redis = connection.app.state.redis
    raw = await redis.get(_key(tenant))
    found = _decoded(raw) if raw is not None else None
    if found is None:
        factory = connection.app.state.cluster_sessions[tenant.cluster]
        async with factory(info={"tenant": tenant}) as session:
            found = await read_settings(session)
        await redis.set(_key(tenant), json.dumps(dataclasses.asdict(found)), ex=CACHE_SECONDS)
    state["tenant_settings"] = found
    return found


async def forget(redis: Redis, tenant: TenantRef) -> None:
    """After a change to the settings is committed: the next request reads them again."""
    await redis.delete(_key(tenant))


def forget_key(tenant_id: uuid.UUID) -> str:
    """The key a synchronous caller (command line, job) deletes after changing a tenant's settings."""
    return ":".join(("bippop", "t", str(tenant_id), "settings"))
