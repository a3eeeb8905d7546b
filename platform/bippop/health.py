"""``/healthz``: the process answers. ``/readyz``: PostgreSQL, Redis, broker and storage answer.

Both answer on any host (load balancers probe by address). A failing check is
named, never described: no URL, host name or error text that could hold a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from litestar import Request, Response, get
from sqlalchemy import text

from bippop.config import Settings

log = structlog.get_logger(__name__)

CHECK_TIMEOUT = 3.0


@get(
    "/healthz", opt={"sites": "any", "public": True}, name="healthz", sync_to_thread=False, cache_control=None
)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _postgres(request: Request) -> None:
    for engine in request.app.state.cluster_engines.values():
        async with engine.connect() as connection:
            await connection.execute(text("select 1"))


async def _redis(request: Request) -> None:
    await request.app.state.redis.ping()


def _broker_check(settings: Settings) -> Callable[[Request], Awaitable[None]]:
    url = settings.effective_broker_url or ""

    async def check(request: Request) -> None:
        if url == settings.redis_url:
            await request.app.state.redis.ping()
            return
        if url.startswith(("amqp://", "amqps://")):
            await asyncio.to_thread(_amqp_ping, url)
            return
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT)
        try:
            await client.ping()
        finally:
            await client.aclose()  # type: ignore[attr-defined]

    return check


def _amqp_ping(url: str) -> None:
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = CHECK_TIMEOUT
    params.blocked_connection_timeout = CHECK_TIMEOUT
    params.connection_attempts = 1
    params.retry_delay = 0
    connection = pika.BlockingConnection(params)
    connection.close()


async def _storage(request: Request) -> None:
    await asyncio.to_thread(request.app.state.storage.ping)


@get("/readyz", opt={"sites": "any", "public": True}, name="readyz")
async def readyz(request: Request) -> Response[dict[str, object]]:
    settings: Settings = request.app.state.settings
    checks: dict[str, Callable[[Request], Awaitable[None]]] = {
        "postgresql": _postgres,
        "redis": _redis,
        "broker": _broker_check(settings),
        "storage": _storage,
    }

    async def run(name: str, check: Callable[[Request], Awaitable[None]]) -> tuple[str, bool]:
        try:
            await asyncio.wait_for(check(request), CHECK_TIMEOUT)
            return name, True
        except (Exception, TimeoutError) as exc:
            log.warning("readiness_check_failed", component=name, error_type=type(exc).__name__)
            return name, False

    results = dict(await asyncio.gather(*(run(n, c) for n, c in checks.items())))
    failing = [name for name, ok in results.items() if not ok]
    body: dict[str, object] = {
        "status": "ready" if not failing else "unavailable",
        "checks": {name: "ok" if ok else "unreachable" for name, ok in results.items()},
    }
    if failing:
        body["failing"] = failing
    return Response(body, status_code=503 if failing else 200, headers={"Cache-Control": "no-store"})
