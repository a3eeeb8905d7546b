"""Issue 13: how many round trips to PostgreSQL each hot page costs, so they never creep back up.

Counted on the app's own engine after a warm-up request (the Redis caches are filled): every statement
(``before_cursor_execute``) plus each transaction's BEGIN and COMMIT or ROLLBACK, and each string of
reads sent by ``db.reads.read_together`` (BEGIN, the scoping, the reads and COMMIT in one round trip) as
one. No pre-ping is sent
(``test_pool_checkout``); a visitor's home page, once kept (``web.page_cache``), costs none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import event

from bippop.app import create_app
from bippop.config import Settings
from bippop.db import reads
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.web.page_cache import CACHED_HEADER
from support import host, log_in, make_person

# The ceilings: a page that needs more has grown a query; look at it before raising its number.
HOME_MISS = 1  # one string: BEGIN, the scoping, the count of volunteers, COMMIT
SIGN_IN = 1  # one string: BEGIN, the scoping, the sign-in providers switched on, COMMIT
DASHBOARD = (
    1  # one string: BEGIN, the scoping, the person, the requests, the appointments, the windows, COMMIT
)
DASHBOARD_READS = 5  # in it: the scoping and the four reads
REQUEST_LIST = 1  # one string: BEGIN, the scoping, a page of requests (with the count, the names), COMMIT


class RoundTrips:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.sent: list[str] = []  # each statement with its parameters: the same twice is a repeat

    def statement(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        self.seen.append(" ".join(statement.split())[:100])
        self.sent.append(f"{statement} {parameters!r}")

    def together(self, statements: Any) -> None:
        self.seen.append(
            f"ONE STRING OF {len(statements)}: " + "; ".join(" ".join(s.split())[:60] for s in statements)
        )
        self.sent.extend(statements)

    def listen(self, engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", self.statement)
        for name in ("begin", "commit", "rollback"):
            event.listen(engine, name, lambda _conn, name=name: self.seen.append(name.upper()))


@pytest.fixture
def counted(settings: Settings) -> Iterator[tuple[TestClient[Any], RoundTrips]]:
    app = create_app(settings)
    trips = RoundTrips()
    with TestClient(app, base_url="http://bippop.test") as web:
        trips.listen(app.state.engine.sync_engine)
        forget = reads.listen(trips.together)
        try:
            yield web, trips
        finally:
            forget()


def round_trips(
    web: TestClient[Any], trips: RoundTrips, path: str, slug: str, *, warm: bool = True
) -> list[str]:
    if warm:
        assert web.get(path, headers=host(slug)).status_code == 200
    trips.seen.clear()
    trips.sent.clear()
    response = web.get(path, headers=host(slug))
    assert response.status_code == 200, response.text
    assert len(set(trips.sent)) == len(trips.sent), f"a statement sent twice on {path}: {trips.seen}"
    return list(trips.seen)


def test_the_hot_pages_cost_few_round_trips(
    counted: tuple[TestClient[Any], RoundTrips], resources: PlatformResources, tenant: TenantRef
) -> None:
    web, trips = counted
    web.app.state.page_cache.seconds = 0  # the home page as it is made, first
    home = round_trips(web, trips, "/", tenant.slug)
    assert len(home) <= HOME_MISS, home
    assert sum("settings" in s for s in home) == 0  # the tenant's settings come from the cache
    web.app.state.page_cache.seconds = 10
    round_trips(web, trips, "/", tenant.slug)
    trips.seen.clear()
    kept = web.get("/", headers=host(tenant.slug))
    assert kept.headers[CACHED_HEADER] == "hit" and trips.seen == []

    sign_in = round_trips(web, trips, "/connexion", tenant.slug)
    assert len(sign_in) <= SIGN_IN, sign_in
    _id, email, _secret = make_person(resources, tenant, ["volunteer"])
    log_in(web, tenant.slug, email)
    dashboard = round_trips(web, trips, "/benevole/", tenant.slug)
    assert len(dashboard) <= DASHBOARD, dashboard
    assert dashboard[0].startswith(f"ONE STRING OF {DASHBOARD_READS}:"), dashboard


def test_a_staff_list_is_one_statement_with_its_count(
    counted: tuple[TestClient[Any], RoundTrips], resources: PlatformResources, tenant: TenantRef
) -> None:
    web, trips = counted
    _id, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    log_in(web, tenant.slug, email, secret)
    listed = round_trips(web, trips, "/coordination/demandes/", tenant.slug)
    assert len(listed) <= REQUEST_LIST, listed
