"""``/healthz``: the process answers. ``/readyz``: PostgreSQL, Redis, broker and storage answer.

Both answer on any host (load balancers probe by address). Anyone gets only the verdict, one word
with its status (200 ``ready``, 503 ``unavailable``); which component fails is told to a client on
this machine (loopback, not through a proxy) or to one sending ``BIPPOP_READYZ_TOKEN`` in the
``X-Readyz-Token`` header. Even then a failing check is named, never described: no URL, host name
or error text that could hold a secret.

The broker is asked at most once every ``BROKER_CHECK_SECONDS`` per process (the answer is kept
meanwhile): a probe every few seconds must not open an AMQP connection each time.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import threading
import time
from collections.abc import Awaitable, Callable

import structlog
from litestar import MediaType, Request, Response, get
from sqlalchemy import text

from bippop.config import Settings

log = structlog.get_logger(__name__)

CHECK_TIMEOUT = 3.0
BROKER_CHECK_SECONDS = 15.0
DETAILS_HEADER = "x-readyz-token"
# A proxy in front says so: its client is not on this machine, whatever address the proxy connects from.
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


@get(
    "/healthz",
    opt={"sites": "any", "public": True, "exclude_from_csrf": True},
    name="healthz",
    sync_to_thread=False,
    cache_control=None,
)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _postgres(request: Request) -> None:
    for engine in request.app.state.cluster_engines.values():
        async with engine.connect() as connection:
            await connection.execute(text("select 1"))


async def _redis(request: Request) -> None:
    await request.app.state.redis.ping()


class BrokerProbe:
    """The broker's last answer, kept ``BROKER_CHECK_SECONDS``; one check at a time per process."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._ok = False

    def check(self) -> bool:
        """Runs in a worker thread: callers arriving during a check wait for its answer."""
        with self._lock:
            now = self.clock()
            if self._checked_at is None or now - self._checked_at >= BROKER_CHECK_SECONDS:
                try:
                    _ping_broker(self.url)
                    self._ok = True
                except Exception as exc:
                    log.warning("readiness_check_failed", component="broker", error_type=type(exc).__name__)
                    self._ok = False
                self._checked_at = self.clock()
            return self._ok


def _ping_broker(url: str) -> None:
    if url.startswith(("amqp://", "amqps://")):
        _amqp_ping(url)
        return
    from redis import Redis

    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def _amqp_ping(url: str) -> None:
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = CHECK_TIMEOUT
    params.blocked_connection_timeout = CHECK_TIMEOUT
    params.connection_attempts = 1
    params.retry_delay = 0
    connection = pika.BlockingConnection(params)
    connection.close()


def _broker_check(request: Request, settings: Settings) -> Callable[[Request], Awaitable[None]]:
    url = settings.effective_broker_url or ""
    if url == settings.redis_url:
        return _redis  # the app's own Redis connection pool: nothing new is opened
    probe: BrokerProbe | None = request.app.state.get("broker_probe")
    if probe is None or probe.url != url:
        probe = request.app.state.broker_probe = BrokerProbe(url)

    async def check(_request: Request) -> None:
        if not await asyncio.to_thread(probe.check):
            raise ConnectionError("broker")

    return check


async def _storage(request: Request) -> None:
    await asyncio.to_thread(request.app.state.storage.ping)


def may_see_details(request: Request, settings: Settings) -> bool:
    """A client on this machine talking to us directly, or one holding the readiness token."""
    sent = request.headers.get(DETAILS_HEADER, "")
    if settings.readyz_token and sent and hmac.compare_digest(sent.encode(), settings.readyz_token.encode()):
        return True
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    client = request.scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


@get("/readyz", opt={"sites": "any", "public": True, "exclude_from_csrf": True}, name="readyz")
async def readyz(request: Request) -> Response[object]:
    settings: Settings = request.app.state.settings
    checks: dict[str, Callable[[Request], Awaitable[None]]] = {
        "postgresql": _postgres,
        "redis": _redis,
        "broker": _broker_check(request, settings),
        "storage": _storage,
    }

    async def run(name: str, check: Callable[[Request], Awaitable[None]]) -> tuple[str, bool]:
        try:
            await asyncio.wait_for(check(request), CHECK_TIMEOUT)
            return name, True
        except (Exception, TimeoutError) as exc:
            if name != "broker":  # the broker's probe has logged its own failure, once per check
                log.warning("readiness_check_failed", component=name, error_type=type(exc).__name__)
            return name, False

    results = dict(await asyncio.gather(*(run(n, c) for n, c in checks.items())))
    failing = [name for name, ok in results.items() if not ok]
    status = 503 if failing else 200
    headers = {"Cache-Control": "no-store"}
    if not may_see_details(request, settings):
        verdict = "unavailable" if failing else "ready"
        return Response(verdict, status_code=status, media_type=MediaType.TEXT, headers=headers)
    body: dict[str, object] = {
        "status": "ready" if not failing else "unavailable",
        "checks": {name: "ok" if ok else "unreachable" for name, ok in results.items()},
    }
    if failing:
        body["failing"] = failing
    return Response(body, status_code=status, headers=headers)
