"""The shared host → tenant cache in Redis (``bippop:host:<hostname>``).

Shared by every web process, so an invalidation reaches all of them. Each web process also keeps
what Redis answered for ``BIPPOP_HOST_CACHE_LOCAL_SECONDS`` (1 s; the ``LOCAL_KEPT`` latest hosts):
a busy portal sends Redis a lookup per host per second per process instead of one per request (the
script cost Redis ~25 µs of CPU a request, the one Redis every process shares, and the web process
a round trip). An invalidation clears the process's own copies at once, whether it comes from a page
(``AsyncHostCache``) or from code running in the process (``HostCache``, ``forget_local``); other
processes see it within the local seconds: a suspension, a domain moved or new branding takes up
to one more second to show there.

Only real tenants' hosts get a key of their own. Anyone can send any ``Host``, so the hosts
that resolve to nothing are remembered (30 s) in one bounded sorted set instead
(``bippop:unknown-hosts``, host → expiry time, the ``UNKNOWN_HOSTS_KEPT`` latest): random host
names cost a database lookup each, never a key each.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import structlog
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from bippop import clock
from bippop.tenants.context import TenantRef

log = structlog.get_logger(__name__)

UNKNOWN = "-"
UNKNOWN_HOSTS_KEY = "bippop:unknown-hosts"
UNKNOWN_HOSTS_KEPT = 1000
UNKNOWN_SECONDS = 30
LOCAL_KEPT = 4096  # hosts each web process keeps a local copy of


def host_key(hostname: str) -> str:
    return f"bippop:host:{hostname}"


# The tenant's settings copy (``web.tenant_settings``) is read with its host: ``bippop:t:<id>:settings``
# and ``…:settings-generation`` (the names ``tenant_cache_key`` gives them). The script names these
# two keys from the tenant's JSON, not in KEYS: right for the one Redis the platform uses, not for a
# Redis Cluster (keys on other slots) or ACLs limited to declared keys.
SETTINGS_PART = "settings"
SETTINGS_GENERATION_PART = "settings-generation"
LOOKUP_SCRIPT = f"""
local raw = redis.call('GET', KEYS[1])
local unknown = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not raw) or raw == '{UNKNOWN}' then return {{raw, unknown}} end
local ok, data = pcall(cjson.decode, raw)
if not ok or type(data) ~= 'table' or type(data['id']) ~= 'string' then return {{raw, unknown}} end
local prefix = 'bippop:t:' .. data['id'] .. ':'
return {{raw, unknown, redis.call('GET', prefix .. '{SETTINGS_PART}'),
         redis.call('GET', prefix .. '{SETTINGS_GENERATION_PART}')}}
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Lookup:
    """What the host cache knows of a host: ``found`` False on a miss (or Redis not answering); the
    tenant (None: no tenant has this host); its cached text, the tenant's fingerprint (any change to the
    tenant writes another); and the settings' cached copy and generation read with it, if any."""

    found: bool
    tenant: TenantRef | None = None
    fingerprint: str = ""
    settings_copy: tuple[Any, Any] | None = None


def encode(tenant: TenantRef | None) -> str:
    return UNKNOWN if tenant is None else json.dumps(tenant.to_json(), separators=(",", ":"))


def decode(raw: bytes | str) -> TenantRef | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text == UNKNOWN:
        return None
    data: dict[str, Any] = json.loads(text)
    return TenantRef.from_json(data)


# Every AsyncHostCache of this process (one per app): what an invalidation in the process clears.
_LOCAL_CACHES: weakref.WeakSet[AsyncHostCache] = weakref.WeakSet()


def forget_local(*, hosts: Iterable[str] = (), tenant_id: uuid.UUID | None = None) -> None:
    """Drop this process's local copies of ``hosts`` and of every host of the tenant ``tenant_id`` (its
    settings changed: the copy read with the host is old). Other processes' expire on their own."""
    names = set(hosts)
    for cache in list(_LOCAL_CACHES):
        cache.forget(names, tenant_id)


class HostInvalidator(Protocol):
    """What the (synchronous) registry calls after each change that can alter a host's resolution."""

    def invalidate(self, hosts: Iterable[str]) -> None: ...


class PendingInvalidations:
    """For the web process: the registry runs in a platform transaction (``run_sync``) and notes the hosts
    here; the caller clears them with ``AsyncHostCache.invalidate`` once the transaction is committed, so
    no request can cache the old tenant between the clearing and the commit."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def invalidate(self, hosts: Iterable[str]) -> None:
        self.hosts.extend(h for h in hosts if h not in self.hosts)


class HostCache:
    """Invalidation side, used by the (synchronous) registry in CLI commands and jobs."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def invalidate(self, hosts: Iterable[str]) -> None:
        names = list(hosts)
        if not names:
            return
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.delete(*(host_key(h) for h in names))
                pipe.zrem(UNKNOWN_HOSTS_KEY, *names)
                pipe.execute()
        except RedisError:
            # A cache we cannot clear must not keep serving: the resolver's TTL bounds it,
            # and the operator is told.
            log.error("host_cache_invalidation_failed", hosts=len(names))
            raise
        finally:  # after Redis too: a lookup that read the old entry meanwhile does not keep it (_keep)
            forget_local(hosts=names)


class AsyncHostCache:
    """Read side, used by host resolution in the web process."""

    def __init__(
        self,
        redis: AsyncRedis,
        ttl_seconds: int,
        local_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.local_seconds = local_seconds
        self._monotonic = monotonic
        self._script: AsyncScript | None = None
        self._local: dict[str, tuple[float, Lookup]] = {}  # host → (monotonic expiry, what Redis said)
        # Counts the forgettings: a lookup whose answer arrives after one (it may have read the entry an
        # invalidation just deleted) is not kept.
        self._forgotten = 0
        _LOCAL_CACHES.add(self)

    def kept_hosts(self) -> list[str]:
        """The hosts this process holds a local copy of, the oldest first."""
        return list(self._local)

    def forget(self, hosts: set[str], tenant_id: uuid.UUID | None = None) -> None:
        """Drop the local copies of ``hosts`` and of the tenant ``tenant_id``'s hosts."""
        self._forgotten += 1
        for host in hosts:
            self._local.pop(host, None)
        if tenant_id is not None:  # the tenant's hosts: only its copies say which they are
            for host, (_until, found) in list(self._local.items()):
                if found.tenant is not None and found.tenant.id == tenant_id:
                    self._local.pop(host, None)

    def _keep(self, hostname: str, found: Lookup, asked_at: float, forgotten: int) -> Lookup:
        """Keep what Redis said (asked at ``asked_at``) until ``local_seconds`` after it was asked, unless
        the process forgot anything since (``forgotten``: the answer may predate an invalidation) or it
        lacks the tenant's settings copy (the first page writes it, and the next lookup brings it)."""
        copied = found.settings_copy is not None and found.settings_copy[0] is not None
        if self.local_seconds > 0 and forgotten == self._forgotten and (found.tenant is None or copied):
            if len(self._local) >= LOCAL_KEPT:  # the oldest kept goes (None: emptied meanwhile)
                self._local.pop(next(iter(self._local), None), None)  # type: ignore[arg-type]
            self._local[hostname] = (asked_at + self.local_seconds, found)
        return found

    async def get(self, hostname: str) -> tuple[bool, TenantRef | None]:
        """(found, tenant): found is False on a miss or when Redis cannot answer."""
        found = await self.lookup(hostname)
        return found.found, found.tenant

    async def lookup(self, hostname: str) -> Lookup:
        """The host's tenant and, in the same round trip, the cached copy of its settings (one script run
        by Redis: the host's key, then the settings' keys named by the tenant's id), or this process's copy
        of what it said less than ``local_seconds`` ago."""
        asked_at, forgotten = self._monotonic(), self._forgotten
        kept = self._local.get(hostname)
        if kept is not None:
            if kept[0] > asked_at:
                return kept[1]
            self._local.pop(hostname, None)
        try:
            if self._script is None:
                self._script = self.redis.register_script(LOOKUP_SCRIPT)
            raw, unknown_until, *settings = await self._script(
                keys=[host_key(hostname), UNKNOWN_HOSTS_KEY], args=[hostname]
            )
        except RedisError:
            log.warning("host_cache_unavailable")
            return Lookup(False)
        if raw is not None:
            text = raw.decode() if isinstance(raw, bytes) else raw
            tenant = decode(text)
            copy = (settings[0], settings[1]) if len(settings) == 2 else None
            found = Lookup(True, tenant, text if tenant is not None else "", copy)
            return self._keep(hostname, found, asked_at, forgotten)
        if unknown_until is not None and float(unknown_until) > clock.seconds():
            return self._keep(hostname, Lookup(True), asked_at, forgotten)
        return Lookup(False)

    async def invalidate(self, hosts: Iterable[str]) -> None:
        """The same as ``HostCache.invalidate``, from the web process (after the change is committed)."""
        names = list(dict.fromkeys(hosts))
        if not names:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.delete(*(host_key(h) for h in names))
                pipe.zrem(UNKNOWN_HOSTS_KEY, *names)
                await pipe.execute()
        except RedisError:
            log.error("host_cache_invalidation_failed", hosts=len(names))
            raise
        finally:
            forget_local(hosts=names)

    async def put(self, hostname: str, tenant: TenantRef | None) -> None:
        try:
            if tenant is not None:
                await self.redis.set(host_key(hostname), encode(tenant), ex=self.ttl)
                return
            now, seconds = clock.seconds(), min(self.ttl, UNKNOWN_SECONDS)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(UNKNOWN_HOSTS_KEY, "-inf", now)
                pipe.zadd(UNKNOWN_HOSTS_KEY, {hostname: now + seconds})
                # Beyond the cap, the entries that expire soonest go first.
                pipe.zremrangebyrank(UNKNOWN_HOSTS_KEY, 0, -UNKNOWN_HOSTS_KEPT - 1)
                pipe.expire(UNKNOWN_HOSTS_KEY, seconds)
                await pipe.execute()
        except RedisError:
            log.warning("host_cache_unavailable")
