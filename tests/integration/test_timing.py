"""Sign-up and password reset answer in the same time whether the address has an account or not, so that
a stranger timing the pages cannot tell which addresses are registered.

Each test times the real pages, known and unknown addresses interleaved in the same run, and compares the
medians: a ratio, not an absolute time, so a slow or busy machine slows both sides alike.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from redis import Redis
from sqlalchemy import select

from bippop.app import create_app
from bippop.config import Settings
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, host, make_person

# Requests per side. A sign-up hashes a password (a quarter of a second here, more on a busy machine)
# and its gap was wide (ninefold): fewer.
SIGN_UP_ROUNDS = 5
RESET_ROUNDS = 15
# Within half as much again either way: the gaps were about 9 (sign-up) and 1.8 (reset).
MOST_RATIO = 1.5


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        yield client


@pytest.fixture
def forget_limits(settings: Settings) -> Iterator[Callable[[], None]]:
    """Empties the rate-limit counters: thirty attempts from one address would otherwise be refused, and a
    refusal is not the timing under test."""
    redis = Redis.from_url(settings.redis_url or "")

    def forget() -> None:
        keys = list(redis.scan_iter(match="LIMITS:*", count=1000))
        if keys:
            redis.delete(*keys)

    yield forget
    redis.close()


def _timed_post(web: TestClient[Litestar], path: str, data: dict[str, str]) -> float:
    token = web.cookies.get("csrftoken") or csrf_token(web, "alpha")
    started = time.perf_counter()
    response = web.post(path, data={**data, "_csrf_token": token}, headers=host("alpha"))
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def _compare(
    web: TestClient[Litestar],
    forget: Callable[[], None],
    path: str,
    known: Callable[[], dict[str, str]],
    unknown: Callable[[], dict[str, str]],
    rounds: int,
) -> tuple[float, float]:
    """Median seconds of the page for a known and for an unknown address, measured alternately."""
    # One of each first, untimed: the first request of a process pays for imports and caches.
    for form in (known(), unknown()):
        forget()
        _timed_post(web, path, form)
    known_times, unknown_times = [], []
    for round_number in range(rounds):
        # Alternate which goes first, so that neither side always follows the other's leftovers.
        order = [(known, known_times), (unknown, unknown_times)]
        for form, times in order if round_number % 2 == 0 else reversed(order):
            forget()
            times.append(_timed_post(web, path, form()))
    return statistics.median(known_times), statistics.median(unknown_times)


def _assert_same_time(known: float, unknown: float, rounds: int) -> None:
    ratio = known / unknown
    assert 1 / MOST_RATIO <= ratio <= MOST_RATIO, (
        f"known address {known * 1000:.0f} ms, unknown {unknown * 1000:.0f} ms (median of {rounds}): "
        "the answer time tells whether an address has an account"
    )


def test_sign_up_takes_as_long_for_a_known_address(
    web: TestClient[Litestar],
    forget_limits: Callable[[], None],
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    _, email, _ = make_person(resources, tenant, ["volunteer"])

    def form(address: str) -> dict[str, str]:
        return {"display_name": "Lucie", "email": address, "password": DEFAULT_PASSWORD, "role": "volunteer"}

    known, unknown = _compare(
        web,
        forget_limits,
        "/inscription",
        known=lambda: form(email),
        unknown=lambda: form(f"nouvelle-{uuid.uuid4().hex[:10]}@example.org"),
        rounds=SIGN_UP_ROUNDS,
    )
    _assert_same_time(known, unknown, SIGN_UP_ROUNDS)


def test_password_reset_takes_as_long_for_an_unknown_address(
    web: TestClient[Litestar],
    forget_limits: Callable[[], None],
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    known, unknown = _compare(
        web,
        forget_limits,
        "/mot-de-passe-oublie",
        known=lambda: {"email": email},
        unknown=lambda: {"email": f"personne-{uuid.uuid4().hex[:10]}@example.org"},
        rounds=RESET_ROUNDS,
    )
    _assert_same_time(known, unknown, RESET_ROUNDS)


def test_a_link_asked_for_an_unknown_address_tells_its_owner(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    address = f"jamais-inscrite-{uuid.uuid4().hex[:8]}@example.org"
    _timed_post(web, "/mot-de-passe-oublie", {"email": address})
    with resources.sessions()(info={"tenant": tenant}) as session:
        (mail,) = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == address))
    assert "no account" in mail.body or "aucun compte" in mail.body
    assert "/lien/" not in mail.body
