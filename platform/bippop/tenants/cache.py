"""The shared host → tenant cache in Redis (``bippop:host:<hostname>``).

Shared by every web process, so an invalidation is seen by all of them at once;
nothing about tenants grows in process memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import structlog
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from bippop.tenants.context import TenantRef

log = structlog.get_logger(__name__)

UNKNOWN = "-"


def host_key(hostname: str) -> str:
    return f"bippop:host:{hostname}"


def encode(tenant: TenantRef | None) -> str:
    return UNKNOWN if tenant is None else json.dumps(tenant.to_json(), separators=(",", ":"))


def decode(raw: bytes | str) -> TenantRef | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text == UNKNOWN:
        return None
    data: dict[str, Any] = json.loads(text)
    return TenantRef.from_json(data)


class HostCache:
    """Invalidation side, used by the (synchronous) registry in CLI commands and jobs."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def invalidate(self, hosts: Iterable[str]) -> None:
        keys = [host_key(h) for h in hosts]
        if not keys:
            return
        try:
            self.redis.delete(*keys)
        except RedisError:
            # A cache we cannot clear must not keep serving: the resolver's TTL bounds it,
            # and the operator is told.
            log.error("host_cache_invalidation_failed", hosts=len(keys))
            raise


class AsyncHostCache:
    """Read side, used by host resolution in the web process."""

    def __init__(self, redis: AsyncRedis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    async def get(self, hostname: str) -> tuple[bool, TenantRef | None]:
        """(found, tenant): found is False on a miss or when Redis cannot answer."""
        try:
            raw = await self.redis.get(host_key(hostname))
        except RedisError:
            log.warning("host_cache_unavailable")
            return False, None
        if raw is None:
            return False, None
        return True, decode(raw)

    async def put(self, hostname: str, tenant: TenantRef | None) -> None:
        ttl = self.ttl if tenant is not None else min(self.ttl, 30)
        try:
            await self.redis.set(host_key(hostname), encode(tenant), ex=ttl)
        except RedisError:
            log.warning("host_cache_unavailable")
