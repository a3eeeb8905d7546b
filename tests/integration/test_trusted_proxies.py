"""Which address is counted (issue #9, items 5(c) and 5(d)).

(c) ``X-Forwarded-For`` is believed only from a proxy in ``BIPPOP_TRUSTED_PROXIES``: through the real
web server (``bippop web``'s uvicorn configuration), a client that sends the header itself is still
counted, and audited, by its own address. (d) Successful sign-ins do not use up an address's
allowance: a town hall or a care home signs many people in from one address; failures still count.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts import passwords, rate_limits
from bippop.accounts.models import AuditEvent, Person
from bippop.accounts.passwords import hash_password
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.runtime.web import server_config
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, host

PER_ADDRESS = 2  # the sign-in limit per address, lowered so that a few attempts reach it
EN = {"bippop_lang": "en"}
TOO_MANY = "Too many attempts."


@pytest.fixture(autouse=True)
def lower_address_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    per_account, _per_address = rate_limits.LIMITS["sign_in"]
    monkeypatch.setitem(rate_limits.LIMITS, "sign_in", (per_account, f"{PER_ADDRESS} per 15 minutes"))


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """What is counted matters here, not the hashing (half a second a check on a busy machine)."""
    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    dummy = quick.hash("dummy")
    monkeypatch.setattr(passwords, "_hasher", quick)
    monkeypatch.setattr(passwords, "_dummy_hash", lambda: dummy)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def web_server(settings: Settings) -> Iterator[str]:
    """The app behind the same uvicorn configuration as ``bippop web``, on loopback; yields its URL."""
    app = create_app(settings)
    server = uvicorn.Server(server_config(settings, app=app, host="127.0.0.1", port=_free_port()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the web server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _refused(base_url: str, forwarded_for: list[str]) -> list[bool]:
    """Failed sign-ins (each with a new, unknown e-mail), one per ``X-Forwarded-For`` value: which were
    refused for too many attempts."""
    with httpx.Client(base_url=base_url, cookies=EN) as web:
        web.get("/connexion", headers=host("alpha"))
        token = web.cookies["csrftoken"]
        refused = []
        for address in forwarded_for:
            response = web.post(
                "/connexion",
                data={"email": f"{uuid.uuid4().hex}@example.org", "password": "not it", "_csrf_token": token},
                headers={**host("alpha"), "X-Forwarded-For": address},
            )
            assert response.status_code in (400, 429), response.text
            refused.append(TOO_MANY in response.text)
    return refused


def _people(resources: PlatformResources, tenant: TenantRef, count: int) -> dict[str, uuid.UUID]:
    """``count`` volunteers who can sign in with DEFAULT_PASSWORD (one hash for all: hashing is slow),
    by e-mail."""
    digest = hash_password(DEFAULT_PASSWORD)
    people = {f"town-hall-{uuid.uuid4().hex[:8]}@example.org": uuid.uuid4() for _ in range(count)}
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():  # type: ignore[attr-defined]
        for email, person_id in people.items():
            session.add(
                Person(
                    id=person_id,
                    display_name="Town hall visitor",
                    email=email,
                    password_hash=digest,
                    roles=["volunteer"],
                    email_verified_at=datetime.datetime.now(datetime.UTC),
                )
            )
    return people


def test_without_a_trusted_proxy_forwarded_for_changes_nothing(settings: Settings, tenant: TenantRef) -> None:
    assert settings.trusted_proxy_networks() == []
    with web_server(settings) as url:
        # Each attempt claims another address; all are counted against the connection's own.
        refused = _refused(url, ["203.0.113.1", "203.0.113.2", "198.51.100.3"])
    assert refused == [False] * PER_ADDRESS + [True]


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted_and_audited(
    settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    [(email, person_id)] = _people(resources, tenant, 1).items()
    with web_server(settings.replace(trusted_proxies="127.0.0.1, 10.0.0.0/8")) as url:
        # Different clients behind the proxy: none is held back by the others.
        assert _refused(url, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [False] * 3
        # One client: its own attempts add up.
        assert _refused(url, ["203.0.113.1", "203.0.113.1"]) == [False, True]
        with httpx.Client(base_url=url, cookies=EN) as web:
            web.get("/connexion", headers=host("alpha"))
            signed_in = web.post(
                "/connexion",
                data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": web.cookies["csrftoken"]},
                headers={**host("alpha"), "X-Forwarded-For": "198.51.100.77"},
                follow_redirects=False,
            )
            assert signed_in.status_code == 303, signed_in.text
    with resources.sessions()(info={"tenant": tenant}) as session:  # type: ignore[attr-defined]
        audited = session.scalars(
            select(AuditEvent.ip_address).where(
                AuditEvent.action == "sign_in", AuditEvent.actor_id == person_id
            )
        ).all()
    assert audited == ["198.51.100.77"]


def test_successful_sign_ins_from_one_address_do_not_use_up_its_allowance(
    settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    people = _people(resources, tenant, PER_ADDRESS + 1)
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        for email in people:
            # The next visitor at the town hall's public computer, with their own account.
            web.cookies.clear()
            web.cookies.set("bippop_lang", "en")
            web.get("/connexion", headers=host("alpha"))
            response = web.post(
                "/connexion",
                data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": web.cookies["csrftoken"]},
                headers=host("alpha"),
                follow_redirects=False,
            )
            assert response.status_code == 303, response.text
        # Failures from that address are still limited.
        web.cookies.clear()
        web.cookies.set("bippop_lang", "en")
        web.get("/connexion", headers=host("alpha"))
        outcomes = []
        for _ in range(PER_ADDRESS + 1):
            response = web.post(
                "/connexion",
                data={
                    "email": f"{uuid.uuid4().hex}@example.org",
                    "password": "not it",
                    "_csrf_token": web.cookies["csrftoken"],
                },
                headers=host("alpha"),
            )
            outcomes.append(TOO_MANY in response.text)
        assert outcomes == [False] * PER_ADDRESS + [True]


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        (None, "production", []),
        (None, "test", []),
        (None, "development", ["127.0.0.1", "::1"]),
        ("10.1.2.3, 10.0.0.0/8", "production", ["10.1.2.3/32", "10.0.0.0/8"]),
    ],
)
def test_trusted_proxies_setting(configured: str | None, env: str, expected: list[str]) -> None:
    settings = Settings(env=env, trusted_proxies=configured, secret_key="k" * 40)
    assert settings.trusted_proxy_networks() == expected
    assert server_config(settings).forwarded_allow_ips == expected


def test_a_malformed_trusted_proxy_is_refused_at_start_up() -> None:
    from bippop.config import SettingsError

    with pytest.raises(SettingsError, match="BIPPOP_TRUSTED_PROXIES"):
        Settings.from_env({"BIPPOP_TRUSTED_PROXIES": "10.0.0.0/8, *"})
