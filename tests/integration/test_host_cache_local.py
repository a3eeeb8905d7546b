"""Each web process's local copy of what the host cache in Redis said (``tenants.cache``): kept
``local_seconds``, bounded, dropped at once by an invalidation made in the process, never shared
between hosts or tenants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bippop.config import Settings, SettingsError
from bippop.tenants import cache as host_cache
from bippop.tenants.cache import AsyncHostCache, HostCache, forget_local, host_key
from bippop.tenants.context import TenantRef
from bippop.web.tenant_settings import forget_sync
from support import BASE_DOMAIN

SECONDS = 1.0


class Moment:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[AsyncRedis]:
    client = AsyncRedis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


@pytest.fixture
def sync_redis(settings: Settings) -> Any:
    client = Redis.from_url(settings.redis_url or "")
    yield client
    client.close()


def _host(tenant: TenantRef) -> str:
    return f"{tenant.slug}.{BASE_DOMAIN}"


async def _cached(redis: AsyncRedis, cache: AsyncHostCache, tenant: TenantRef) -> None:
    """The tenant's host and its settings copy in Redis, as a first page leaves them."""
    await cache.put(_host(tenant), tenant)
    settings_key = f"bippop:t:{tenant.id}:settings"
    if not await redis.exists(settings_key):
        await redis.set(settings_key, '{"generation": 0}', ex=60)


async def test_a_second_lookup_within_the_local_seconds_does_not_ask_redis(
    redis: AsyncRedis, tenant: TenantRef
) -> None:
    moment = Moment()
    cache = AsyncHostCache(redis, 300, SECONDS, monotonic=moment)
    await _cached(redis, cache, tenant)
    first = await cache.lookup(_host(tenant))
    assert first.found and first.tenant == tenant and first.settings_copy is not None
    await redis.delete(host_key(_host(tenant)))  # behind the cache's back: only the local copy is left
    moment.at += SECONDS / 2
    assert (await cache.lookup(_host(tenant))) == first
    moment.at += SECONDS  # expired: Redis is asked again, and has nothing
    assert not (await cache.lookup(_host(tenant))).found


async def test_an_invalidation_in_the_process_drops_the_copy_at_once(
    redis: AsyncRedis, sync_redis: Any, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    cache = AsyncHostCache(redis, 300, SECONDS, monotonic=Moment())
    for one in (tenant, other_tenant):
        await _cached(redis, cache, one)
        assert (await cache.lookup(_host(one))).tenant == one
    # A page's own change (after its commit): gone here, the other tenant's copy kept.
    await cache.invalidate([_host(tenant)])
    assert not (await cache.lookup(_host(tenant))).found
    assert (await cache.lookup(_host(other_tenant))).tenant == other_tenant
    # The registry's synchronous side (commands, jobs, tests) reaches this process's copies too.
    await _cached(redis, cache, tenant)
    assert (await cache.lookup(_host(tenant))).found
    HostCache(sync_redis).invalidate([_host(tenant)])
    assert not (await cache.lookup(_host(tenant))).found
    # A settings change drops the copies of that tenant's hosts only (the copy read with the host).
    await _cached(redis, cache, tenant)
    await cache.lookup(_host(tenant))
    forget_sync(sync_redis, tenant)
    assert _host(tenant) not in cache.kept_hosts() and _host(other_tenant) in cache.kept_hosts()
    forget_local(hosts=[_host(other_tenant)])
    assert not cache.kept_hosts()


async def test_two_hosts_never_share_a_copy(
    redis: AsyncRedis, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    cache = AsyncHostCache(redis, 300, SECONDS, monotonic=Moment())
    for one in (tenant, other_tenant):
        await _cached(redis, cache, one)
    for _ in range(2):  # from Redis, then from the local copies
        assert (await cache.lookup(_host(tenant))).tenant == tenant
        assert (await cache.lookup(_host(other_tenant))).tenant == other_tenant


async def test_not_kept_without_a_settings_copy_nor_when_switched_off(
    redis: AsyncRedis, tenant: TenantRef
) -> None:
    cache = AsyncHostCache(redis, 300, SECONDS, monotonic=Moment())
    await cache.put(_host(tenant), tenant)
    await redis.delete(f"bippop:t:{tenant.id}:settings")
    assert (await cache.lookup(_host(tenant))).found
    assert (
        _host(tenant) not in cache.kept_hosts()
    )  # the first page writes the copy: the next lookup brings it
    off = AsyncHostCache(redis, 300, 0, monotonic=Moment())
    await _cached(redis, off, tenant)
    await off.lookup(_host(tenant))
    assert not off.kept_hosts()


async def test_the_copies_are_bounded(
    redis: AsyncRedis, tenant: TenantRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone can send any Host: unknown hosts are kept too (what Redis said of them), the oldest going
    first beyond ``LOCAL_KEPT``."""
    monkeypatch.setattr(host_cache, "LOCAL_KEPT", 3)
    cache = AsyncHostCache(redis, 300, SECONDS, monotonic=Moment())
    names = [f"unknown-{n}.example.org" for n in range(6)]
    for name in names:
        await cache.put(name, None)
        assert (await cache.lookup(name)) == host_cache.Lookup(True)
    assert cache.kept_hosts() == names[-3:]


class AnswerArrivesLate:
    """The Redis client, but the lookup script's answer (read at once) reaches the caller only when the
    test says: an invalidation can run between the read and the answer."""

    def __init__(self, redis: AsyncRedis) -> None:
        self.redis = redis
        self.read = asyncio.Event()
        self.arrive = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.redis, name)

    def register_script(self, text: str) -> Any:
        script = self.redis.register_script(text)

        async def run(**arguments: Any) -> Any:
            answer = await script(**arguments)
            self.read.set()
            await self.arrive.wait()
            return answer

        return run


async def test_an_answer_read_before_an_invalidation_is_not_kept(
    redis: AsyncRedis, tenant: TenantRef
) -> None:
    late = AnswerArrivesLate(redis)
    cache = AsyncHostCache(late, 300, SECONDS, monotonic=Moment())  # type: ignore[arg-type]
    await _cached(redis, cache, tenant)
    in_flight = asyncio.create_task(cache.lookup(_host(tenant)))
    await late.read.wait()  # Redis has answered with the tenant …
    await cache.invalidate([_host(tenant)])  # … then the tenant changed (suspended, domain moved)
    late.arrive.set()
    assert (await in_flight).tenant == tenant  # that request was already under way
    assert _host(tenant) not in cache.kept_hosts()  # but no later one is answered with it


def test_the_local_seconds_setting(settings: Settings) -> None:
    assert Settings().host_cache_local_seconds == 1
    assert Settings.from_env({"BIPPOP_HOST_CACHE_LOCAL_SECONDS": "0"}).host_cache_local_seconds == 0
    assert Settings.from_env({"BIPPOP_HOST_CACHE_LOCAL_SECONDS": "3"}).host_cache_local_seconds == 3
    with pytest.raises(SettingsError, match="BIPPOP_HOST_CACHE_LOCAL_SECONDS"):
        Settings.from_env({"BIPPOP_HOST_CACHE_LOCAL_SECONDS": "0.5"})
