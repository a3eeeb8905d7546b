"""Nothing a stranger sends can fill Redis: forms kept for signed-out visitors, unknown hosts and
rate-limit counters are capped and expire, and a full Redis answers a calm 503 (issue #9, item 3).

These tests run the app against a Redis server of their own (embedded, capped like ``bippop run``'s),
so that ``INFO memory`` measures only what they did.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from redis import Redis
from redis.exceptions import OutOfMemoryError

from bippop.accounts.rate_limits import LIMITS, RateLimiter
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.embedded import EmbeddedRedis
from bippop.tenants import cache as host_cache
from bippop.tenants.context import TenantRef
from bippop.web import drafts
from support import BASE_DOMAIN, host

MAXMEMORY = 48 * 1024 * 1024
GUARDED_FORM = "/compte/preferences"  # any page that needs a signed-in person
HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def capped_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Redis]]:
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("capped-redis")) / "caps.rdb", maxmemory="48mb")
    url = server.start()
    client = Redis.from_url(url)
    try:
        yield url, client
    finally:
        client.close()
        server.stop()


@pytest.fixture
async def stranger(
    settings: Settings, capped_redis: tuple[str, Redis], tenant: TenantRef, other_tenant: TenantRef
) -> AsyncIterator[tuple[Litestar, Redis]]:
    """An app on the capped Redis, emptied first; yields it with a client of that Redis."""
    url, redis = capped_redis
    redis.flushall()
    app = create_app(settings.replace(redis_url=url))
    # Started and stopped by hand: pytest runs a fixture's two halves in different tasks.
    for hook in app.on_startup:
        await hook(app)  # type: ignore[call-arg]
    try:
        yield app, redis
    finally:
        for hook in app.on_shutdown:
            await hook(app)  # type: ignore[call-arg]
    # The app pointed the process's job broker at this Redis: point it back.
    from bippop.broker import build_broker, configure_broker

    configure_broker(build_broker(settings))


def _used_memory(redis: Redis) -> int:
    return int(redis.info("memory")["used_memory"])


def _from(app: Litestar, address: str, csrf: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A browser at ``address`` (the connection's own address: no proxy in between), holding the CSRF
    cookie of ``csrf`` when given."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    web = httpx.AsyncClient(transport=transport, base_url=f"http://{BASE_DOMAIN}")
    if csrf:
        web.cookies.set("csrftoken", csrf["x-csrftoken"])
    return web


async def _csrf(web: httpx.AsyncClient, slug: str = "alpha") -> dict[str, str]:
    """What a stranger needs to send forms at all: the CSRF cookie of any page, and its token."""
    await web.get("/connexion", headers=host(slug))
    return {"x-csrftoken": web.cookies["csrftoken"]}


async def _send_form(web: httpx.AsyncClient, body: bytes, csrf: dict[str, str], slug: str = "alpha") -> str:
    """A form sent without a session: where the sign-in redirect goes."""
    response = await web.post(
        GUARDED_FORM,
        content=body,
        headers={**host(slug), **HTML, **csrf, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _draft_keys(redis: Redis) -> list[bytes]:
    return [k for k in redis.scan_iter(match="bippop:t:*:draft:*", count=1000)]


async def test_large_anonymous_forms_are_not_kept_and_redis_barely_grows(
    stranger: tuple[Litestar, Redis],
) -> None:
    app, redis = stranger
    async with _from(app, "198.51.100.7") as web:
        csrf = await _csrf(web)
        before = _used_memory(redis)
        for _ in range(5):
            location = await _send_form(web, b"phone=" + b"9" * 9_000_000, csrf)
            assert "brouillon" not in location and "expired=lost" in location
        growth = _used_memory(redis) - before
        # Five 9 MB forms once added 56 MB; now only counters at most.
        assert growth < 200_000, growth
        assert _draft_keys(redis) == []
        web.cookies.set("bippop_lang", "en")
        page = await web.get(location, headers=host("alpha"))
        assert "could not be kept this time" in page.text and "has been kept" not in page.text

        # A body that does not say its length (chunked) is not read for a draft either.
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"9" * 90_000

        response = await web.post(
            GUARDED_FORM,
            content=chunks(),
            headers={**host("alpha"), **HTML, **csrf, "content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 303 and "expired=lost" in response.headers["location"]
        # With the token in the form itself, the body would have to be read: beyond 1 MB, it is not.
        token = csrf["x-csrftoken"].encode()
        refused = await web.post(
            GUARDED_FORM,
            content=b"_csrf_token=" + token + b"&phone=" + b"9" * 2_000_000,
            headers={**host("alpha"), **HTML, "content-type": "application/x-www-form-urlencoded"},
        )
        assert refused.status_code == 413
        assert _used_memory(redis) - before < 200_000


async def test_many_anonymous_forms_are_capped_per_address_and_per_tenant(
    stranger: tuple[Litestar, Redis],
) -> None:
    app, redis = stranger
    form = b"phone=" + b"0" * (drafts.DRAFT_MAX_BYTES - 200)  # the biggest form still kept
    before = _used_memory(redis)
    async with _from(app, "198.51.100.8") as web:
        csrf = await _csrf(web)
        one_address = [await _send_form(web, form, csrf) for _ in range(drafts.DRAFTS_PER_ADDRESS + 3)]
    kept = ["brouillon" in location for location in one_address]
    assert kept == [True] * drafts.DRAFTS_PER_ADDRESS + [False] * 3
    assert all("expired=lost" in location for location in one_address[drafts.DRAFTS_PER_ADDRESS :])

    # A stranger with many addresses fills the tenant's allowance, not Redis.
    for i in range(drafts.DRAFTS_PER_TENANT + 20):
        async with _from(app, f"10.0.{i // 250}.{i % 250}", csrf) as web:
            await _send_form(web, form, csrf)
    assert len(_draft_keys(redis)) == drafts.DRAFTS_PER_TENANT
    growth = _used_memory(redis) - before
    assert growth < drafts.DRAFTS_PER_TENANT * (drafts.DRAFT_MAX_BYTES + 2048), growth
    # Every key they made expires with the drafts.
    for key in redis.scan_iter(match="bippop:*draft*", count=1000):
        assert 0 < redis.ttl(key) <= drafts.DRAFT_SECONDS, key

    # The other tenant still keeps its visitors' forms.
    async with _from(app, "198.51.100.9") as web:
        beta = await _csrf(web, "beta")
        assert "brouillon" in await _send_form(web, b"phone=0344001122", beta, "beta")


async def test_all_tenants_together_keep_a_bounded_number_of_drafts(
    stranger: tuple[Litestar, Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, redis = stranger
    monkeypatch.setattr(drafts, "DRAFTS_IN_ALL", 7)
    outcomes = []
    for slug in ("alpha", "beta"):
        for i in range(5):
            async with _from(app, f"192.0.2.{i + (10 if slug == 'beta' else 0)}") as web:
                outcomes.append(
                    "brouillon" in await _send_form(web, b"phone=1", await _csrf(web, slug), slug)
                )
    assert outcomes.count(True) == 7 and len(_draft_keys(redis)) == 7


async def test_a_kept_draft_still_comes_back(stranger: tuple[Litestar, Redis]) -> None:
    app, _redis = stranger
    async with _from(app, "198.51.100.20") as web:
        location = await _send_form(web, b"phone=03+44+00+11+22", await _csrf(web))
        assert "brouillon" in location and "expired=1" in location
        web.cookies.set("bippop_lang", "en")
        page = await web.get(location, headers=host("alpha"))
        assert "has been kept and will be put back" in page.text


async def test_random_host_names_do_not_make_a_key_each(
    stranger: tuple[Litestar, Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, redis = stranger
    monkeypatch.setattr(host_cache, "UNKNOWN_HOSTS_KEPT", 50)
    async with _from(app, "198.51.100.30") as web:
        await web.get("/", headers=host("alpha"))  # the real tenant's host is cached
        keys_before = redis.dbsize()
        for i in range(300):
            name = f"x{secrets.token_hex(6)}.{BASE_DOMAIN}" if i % 2 else f"{secrets.token_hex(6)}.example"
            assert (await web.get("/", headers={"Host": name})).status_code == 404
        # One bounded set of unknown hosts, whatever the number of names.
        assert redis.dbsize() <= keys_before + 1
        assert 0 < redis.zcard(host_cache.UNKNOWN_HOSTS_KEY) <= 50
        assert 0 < redis.ttl(host_cache.UNKNOWN_HOSTS_KEY) <= host_cache.UNKNOWN_SECONDS
        # The real tenant still resolves, and an unknown host is still a plain 404.
        assert (await web.get("/", headers=host("alpha"))).status_code == 200
        assert (await web.get("/", headers={"Host": "nobody.example"})).status_code == 404


def test_rate_limit_keys_expire_and_invented_emails_mint_few(settings: Settings) -> None:
    assert settings.redis_url
    limiter, tenant = RateLimiter(settings.redis_url), uuid.uuid4()
    refused = [
        limiter.hit(
            "sign_in", tenant_id=tenant, account=f"{uuid.uuid4().hex}@example.org", address="192.0.2.1"
        )
        for _ in range(100)
    ]
    per_address = limiter.items["sign_in"][1].amount
    assert refused.count(None) == per_address
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = list(redis.scan_iter(match=f"LIMITS:*/bippop/t/{tenant}/*", count=1000))
        accounts = [k for k in keys if b"/account/" in k]
        # Past its limit, an address counts nothing more: no key per invented e-mail.
        assert len(accounts) == per_address and len(keys) == per_address + 1
        for key in keys:
            assert 0 < redis.ttl(key) <= 15 * 60, key
        assert all(redis.llen(k) <= per_address for k in keys)
    finally:
        redis.close()
    assert set(LIMITS) >= {"sign_in", "password_reset", "sign_up", "invitation", "sso"}


async def test_a_full_redis_answers_a_calm_503_and_is_logged(
    stranger: tuple[Litestar, Redis], capped_redis: tuple[str, Redis], caplog: pytest.LogCaptureFixture
) -> None:
    app, redis = stranger
    assert int(redis.config_get("maxmemory")["maxmemory"]) == MAXMEMORY
    assert redis.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    async with _from(app, "198.51.100.40") as web:
        csrf = await _csrf(web)
        filler = Redis.from_url(capped_redis[0], db=1)
        try:
            # Filled up to the last few bytes, as a flood of writes would.
            for size in (1_000_000, 65_536, 4096, 256, 16):
                with pytest.raises(OutOfMemoryError):
                    for i in range(MAXMEMORY // size + 1):
                        filler.set(f"filler:{size}:{i}", b"x" * size)
            caplog.set_level(logging.INFO)
            response = await web.post(
                GUARDED_FORM,
                content=b"phone=0344001122",
                headers={
                    **host("alpha"),
                    **HTML,
                    **csrf,
                    "content-type": "application/x-www-form-urlencoded",
                },
            )
            assert response.status_code == 503 and response.headers.get("retry-after")
            assert "Traceback" not in response.text
            events = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
            assert any(e.get("event") == "redis_unavailable" and e.get("out_of_memory") for e in events)
        finally:
            filler.flushdb()
            filler.close()
        # Room again: the same form is kept.
        assert "brouillon" in await _send_form(web, b"phone=0344001122", csrf)
