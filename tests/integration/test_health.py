"""``/readyz``: the verdict for anyone; which component fails only for this machine or the token holder;
and a probe every second does not open an AMQP connection each time."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pika
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import Receive, Scope, Send

from bippop import health
from bippop.app import create_app
from bippop.config import Settings
from support import BASE_DOMAIN

TOKEN = "jeton-readyz-de-la-supervision-1234"
RABBITMQ_URL = os.environ.get("BIPPOP_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


class FromAddress:
    """The app as reached from ``address`` (the test client always says "testclient")."""

    def __init__(self, app: Litestar, address: str) -> None:
        self.app, self.address = app, address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["client"] = (self.address, 41234)
        await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


def _client(app: Litestar, address: str) -> AsyncTestClient:
    return AsyncTestClient(FromAddress(app, address), base_url=f"http://{BASE_DOMAIN}")


async def test_the_public_gets_the_verdict_this_machine_and_the_token_the_details(settings: Settings) -> None:
    app = create_app(settings.replace(readyz_token=TOKEN))
    async with _client(app, "203.0.113.9") as outsider:
        plain = await outsider.get("/readyz")
        wrong = await outsider.get("/readyz", headers={"X-Readyz-Token": "devine"})
        with_token = await outsider.get("/readyz", headers={"X-Readyz-Token": TOKEN})
    async with _client(app, "127.0.0.1") as local:
        here = await local.get("/readyz")
        proxied = await local.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9"})
    for answer in (plain, wrong, proxied):
        assert answer.status_code == 200
        assert answer.text == "ready"
        assert "postgresql" not in answer.text and "checks" not in answer.text
    for answer in (with_token, here):
        assert answer.status_code == 200
        assert answer.json()["checks"] == {"postgresql": "ok", "redis": "ok", "broker": "ok", "storage": "ok"}


async def test_when_a_component_fails_the_public_learns_only_that(settings: Settings) -> None:
    app = create_app(settings.replace(redis_url="redis://127.0.0.1:1/0", readyz_token=TOKEN))
    async with _client(app, "198.51.100.4") as outsider:
        plain = await outsider.get("/readyz")
        detailed = await outsider.get("/readyz", headers={"X-Readyz-Token": TOKEN})
    assert plain.status_code == detailed.status_code == 503
    assert plain.text == "unavailable"
    assert "redis" in detailed.json()["failing"]


@pytest.fixture
def counted_amqp_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every AMQP connection opened from now on (the real ones, to the real RabbitMQ)."""
    opened: list[object] = []
    real = pika.BlockingConnection
    lock = threading.Lock()

    def counting(*args: Any, **kwargs: Any) -> Any:
        connection = real(*args, **kwargs)
        with lock:
            opened.append(connection)
        return connection

    monkeypatch.setattr(pika, "BlockingConnection", counting)
    return opened


async def test_twenty_probes_open_at_most_one_amqp_connection(
    settings: Settings, counted_amqp_connections: list[object]
) -> None:
    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).close()
    except Exception:
        pytest.skip(f"no RabbitMQ at {RABBITMQ_URL}")
    counted_amqp_connections.clear()
    app = create_app(settings.replace(broker_url=RABBITMQ_URL, readyz_token=TOKEN))
    async with _client(app, "203.0.113.9") as outsider:
        answers = [await outsider.get("/readyz", headers={"X-Readyz-Token": TOKEN}) for _ in range(10)]
        # And ten at the same moment.
        answers += await asyncio.gather(
            *(outsider.get("/readyz", headers={"X-Readyz-Token": TOKEN}) for _ in range(10))
        )
    assert all(a.status_code == 200 and a.json()["checks"]["broker"] == "ok" for a in answers)
    assert len(counted_amqp_connections) <= 1


def test_the_broker_is_asked_again_once_its_answer_is_old(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    asked: list[str] = []
    monkeypatch.setattr(health, "_ping_broker", asked.append)
    probe = health.BrokerProbe(RABBITMQ_URL, clock=lambda: now[0])
    assert probe.check() and probe.check()
    now[0] += health.BROKER_CHECK_SECONDS + 1
    assert probe.check()
    assert len(asked) == 2
