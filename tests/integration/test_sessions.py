"""Server-side sessions: bound to a tenant, new id at sign-in, timeouts per role checked by time travel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bippop.accounts.sessions import WARNING_SECONDS, SessionStore, timeouts_for
from bippop.config import Settings
from support import Clock


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


async def test_a_session_is_worthless_on_another_tenant(redis: Redis) -> None:
    store = SessionStore(redis)
    alpha, beta, person = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session = await store.start(alpha, person, ["volunteer"])
    assert (await store.get(alpha, session.id)) is not None
    assert (await store.get(beta, session.id)) is None
    keys = [k.decode() async for k in redis.scan_iter(match=f"*{alpha}*session*")]
    assert keys and all(session.id not in k for k in keys)  # Redis never holds a usable id


async def test_sign_in_always_starts_a_new_session(redis: Redis) -> None:
    store = SessionStore(redis)
    tenant, person = uuid.uuid4(), uuid.uuid4()
    anonymous = await store.start(tenant, person, ["beneficiary"])
    signed_in = await store.start(tenant, person, ["beneficiary"], replacing=anonymous.id)
    assert signed_in.id != anonymous.id
    assert await store.get(tenant, anonymous.id) is None


@pytest.mark.parametrize(
    ("roles", "idle", "absolute"),
    [
        (["coordinator"], 15 * 60, 8 * 3600),
        (["volunteer"], 30 * 60, 12 * 3600),
        (["beneficiary"], 60 * 60, 7 * 24 * 3600),
        (["volunteer", "coordinator"], 15 * 60, 8 * 3600),
    ],
)
async def test_timeouts_by_role_with_time_travel(
    redis: Redis, roles: list[str], idle: int, absolute: int
) -> None:
    assert timeouts_for(roles) == (idle, absolute)
    clock = Clock(1_800_000_000.0)
    store = SessionStore(redis, clock=clock)
    tenant = uuid.uuid4()
    session = await store.start(tenant, uuid.uuid4(), roles)
    assert session.expires_at() - session.warn_at() == WARNING_SECONDS >= 20  # WCAG 2.2.1: 20 s at least
    # Activity just inside the inactivity window keeps it alive…
    clock.now += idle - 1
    assert await store.get(tenant, session.id) is not None
    clock.now += idle - 1
    assert await store.get(tenant, session.id) is not None
    # …and silence past it ends it.
    clock.now += idle
    assert await store.get(tenant, session.id) is None
    # Even a busy session ends at the absolute timeout.
    busy = await store.start(tenant, uuid.uuid4(), roles)
    step = idle // 2
    while clock.now + step < busy.created_at + absolute:
        clock.now += step
        assert await store.get(tenant, busy.id) is not None
    clock.now = busy.created_at + absolute
    assert await store.get(tenant, busy.id) is None


async def test_a_person_can_be_signed_out_everywhere(redis: Redis) -> None:
    store = SessionStore(redis)
    tenant, person = uuid.uuid4(), uuid.uuid4()
    phone = await store.start(tenant, person, ["volunteer"])
    laptop = await store.start(tenant, person, ["volunteer"])
    other = await store.start(tenant, uuid.uuid4(), ["volunteer"])
    assert await store.end_all_for(tenant, person) == 2
    assert await store.get(tenant, phone.id) is None and await store.get(tenant, laptop.id) is None
    assert await store.get(tenant, other.id) is not None


async def test_garbage_ids_find_nothing(redis: Redis) -> None:
    store = SessionStore(redis)
    for bad in (None, "", "x" * 500, "../../etc", "bippop:t:*"):
        assert await store.get(uuid.uuid4(), bad) is None
