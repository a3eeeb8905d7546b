"""The tenant's settings every page needs (its default language, the service modules it switched on,
whether its portal is published),
read once per request and cached with the tenant in Redis — read in the same round trip as the host
(``tenants.cache.LOOKUP_SCRIPT``) — so no handler reads them by hand and most requests read no
``settings`` row.

Staleness is bounded three ways. A change bumps the tenant's generation after its commit (``forget``):
a copy is written with the generation read *before* the table was read, so a reader that raced the
change writes a copy nobody will trust. A request that changes something (any method but GET and
HEAD) reads the table itself, never a copy: what decides whether a module's action may run is the
table. And copies expire after five minutes. With Redis unavailable (or full and refusing writes),
pages read the table and go on, as host resolution does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import structlog
from litestar.connection import ASGIConnection
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.tenants.cache import SETTINGS_GENERATION_PART, SETTINGS_PART, forget_local
from bippop.tenants.context import TenantRef, tenant_cache_key
from bippop.tenants.resolution import Site
from bippop.tenants.tenant_settings import Setting
from bippop.web import i18n

CACHE_SECONDS = 300
DEFAULT_LOCALE_KEY = "default_locale"
ENABLED_MODULES_KEY = "modules.enabled"
# Absent means published: every tenant made before the setting existed (or by the CLI) stays open.
PUBLISHED_KEY = "published"
KEYS = (DEFAULT_LOCALE_KEY, ENABLED_MODULES_KEY, PUBLISHED_KEY)
SAFE_METHODS = ("GET", "HEAD")
REQUEST_SESSION = "bippop_db_session"  # the scope state's key of the request's own session, while it is open

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class TenantSettings:
    default_locale: str = i18n.DEFAULT_LOCALE
    enabled_modules: tuple[str, ...] | None = None  # None: the council chose nothing, every module is on
    published: bool = True  # False: residents and visitors see « opening soon » (onboarding/first_steps)

    def visible_modules(self, installed: Iterable[str]) -> frozenset[str]:
        """Slugs whose pages and requests are shown: switched on *and* still installed."""
        available = list(installed)
        if self.enabled_modules is None:
            return frozenset(available)
        return frozenset(slug for slug in self.enabled_modules if slug in available)


def _key(tenant: TenantRef) -> str:
    return tenant_cache_key(SETTINGS_PART, tenant=tenant)


def _generation_key(tenant: TenantRef) -> str:
    return tenant_cache_key(SETTINGS_GENERATION_PART, tenant=tenant)


async def read_settings(session: AsyncSession) -> TenantSettings:
    """The settings from the tenant's own table (the session is scoped to the tenant)."""
    found = await session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(KEYS)))
    rows: dict[str, Any] = {key: value for key, value in found.all()}
    locale = rows.get(DEFAULT_LOCALE_KEY)
    enabled = rows.get(ENABLED_MODULES_KEY)
    return TenantSettings(
        default_locale=locale if locale in i18n.LOCALES else i18n.DEFAULT_LOCALE,
        enabled_modules=tuple(str(s) for s in enabled) if isinstance(enabled, list) else None,
        published=is_published(rows.get(PUBLISHED_KEY, True)),
    )


def is_published(value: Any) -> bool:
    """The ``published`` setting's value read: only an explicit false closes the portal (a text "false"
    too, as the provisioning defaults write text)."""
    return value is not False and value != "false"


def _decoded(raw: bytes | str | None, generation: bytes | str | None) -> TenantSettings | None:
    """The cached copy, if it was written at the current generation."""
    if raw is None:
        return None
    try:
        data: Any = json.loads(raw)
        if str(data["generation"]) != str(int(generation or 0)):
            return None  # written by a reader that raced a change
        enabled = data["enabled_modules"]
        return TenantSettings(
            default_locale=str(data["default_locale"]),
            enabled_modules=None if enabled is None else tuple(str(s) for s in enabled),
            published=bool(data["published"]),
        )
    except (ValueError, KeyError, TypeError):
        return None  # written by another version: read again


async def _from_table(connection: ASGIConnection[Any, Any, Any, Any], tenant: TenantRef) -> TenantSettings:
    """Read by the request's own session when it has one for this tenant (``bippop.deps``): a second
    session would hold a second pooled connection beside it, and as many such requests at once as the
    pool has connections would each wait for one."""
    own: AsyncSession | None = connection.scope["state"].get(REQUEST_SESSION)
    if own is not None and own.info.get("tenant") == tenant:
        try:
            with own.no_autoflush:  # what the handler has not written yet is not written by this read
                return await read_settings(own)
        except PendingRollbackError:
            pass  # a failed flush the handler has not rolled back yet: its page is shown all the same
    factory = connection.app.state.cluster_sessions[tenant.cluster]
    async with factory(info={"tenant": tenant}) as session:
        return await read_settings(session)


async def _cached(
    connection: ASGIConnection[Any, Any, Any, Any], tenant: TenantRef, copy: tuple[Any, Any] | None
) -> TenantSettings:
    """From ``copy`` (the cached copy and generation host resolution read with the tenant), else from
    Redis, else from the table (then cached)."""
    redis: Redis = connection.app.state.redis
    if copy is not None:
        raw, generation = copy
    else:
        try:
            raw, generation = await redis.mget(_key(tenant), _generation_key(tenant))
        except RedisError as exc:
            log.warning("tenant_settings_cache_unavailable", error=type(exc).__name__)
            return await _from_table(connection, tenant)
    found = _decoded(raw, generation)
    if found is not None:
        return found
    found = await _from_table(connection, tenant)
    written = {**dataclasses.asdict(found), "generation": int(generation or 0)}
    try:
        await redis.set(_key(tenant), json.dumps(written), ex=CACHE_SECONDS)
    except RedisError as exc:  # full (noeviction) or gone: the next request reads the table again
        log.warning("tenant_settings_cache_unavailable", error=type(exc).__name__)
    if raw is not None and copy is not None:  # the process's copy of the lookup may hold this old one
        forget_local(tenant_id=tenant.id)
    return found


async def tenant_settings(connection: ASGIConnection[Any, Any, Any, Any]) -> TenantSettings:
    """The request's tenant's settings: from this request, then (for a GET or HEAD) the cached copy, then
    the tenant's table."""
    state = connection.scope["state"]
    known = state.get("tenant_settings")
    if isinstance(known, TenantSettings):
        return known
    site: Site | None = state.get("site")
    if site is None or site.tenant is None:
        return TenantSettings()
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        found = await _cached(connection, site.tenant, site.settings_copy)
    else:
        found = await _from_table(connection, site.tenant)
    state["tenant_settings"] = found
    return found


async def forget(redis: Redis, tenant: TenantRef) -> None:
    """After a change to the settings is committed: no copy made before it is trusted again (this
    process's copies read with the host go at once, other processes' within their local seconds)."""
    try:
        await redis.incr(_generation_key(tenant))
        await redis.delete(_key(tenant))
    finally:
        forget_local(tenant_id=tenant.id)


def forget_sync(redis: SyncRedis, tenant: TenantRef) -> None:
    """The same for a synchronous caller (command line, restore, tests)."""
    try:
        redis.incr(_generation_key(tenant))
        redis.delete(_key(tenant))
    finally:
        forget_local(tenant_id=tenant.id)
