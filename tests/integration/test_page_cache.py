"""Issue 13: a visitor's home page is kept rendered a few seconds, per tenant and everything the page
depends on (branding, modules, language, display choices), never for someone signed in, and a change
of branding or of the modules shows at once."""

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
from bippop.tenants.services import TenantService
from bippop.tenants.tenant_settings import Setting
from bippop.web.page_cache import CACHED_HEADER, REFRESH_SECONDS, PageCache
from support import forget_tenant_settings, host, log_in, make_person, make_tenant


@pytest.fixture(scope="module")
def council(settings: Settings) -> TenantRef:
    return make_tenant(settings, "cachette", "Cachette-sur-Oise")


@pytest.fixture
def web(settings: Settings) -> Iterator[tuple[TestClient[Any], list[str]]]:
    app = create_app(settings)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with TestClient(app, base_url="http://bippop.test") as client:
        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", seen)
        forget = reads.listen(statements.extend)  # the reads sent together (db.reads) too
        try:
            yield client, statements
        finally:
            forget()
            event.remove(engine, "before_cursor_execute", seen)


def test_a_visitors_home_page_is_kept_and_answered_without_a_query(
    web: tuple[TestClient[Any], list[str]], council: TenantRef, tenant: TenantRef
) -> None:
    client, statements = web
    first = client.get("/", headers=host(council.slug))
    assert first.status_code == 200 and first.headers[CACHED_HEADER] == "miss"
    assert "set-cookie" not in first.headers
    statements.clear()
    again = client.get("/", headers=host(council.slug))
    assert again.headers[CACHED_HEADER] == "hit" and again.text == first.text
    assert statements == []  # no SQL at all
    assert "set-cookie" not in again.headers and again.headers["content-security-policy"]  # still secured
    assert "Cachette-sur-Oise" in again.text
    # Another tenant's home is its own, never the one kept for the first.
    other = client.get("/", headers=host(tenant.slug))
    assert other.headers[CACHED_HEADER] == "miss" and "Cachette-sur-Oise" not in other.text
    # The visitor's language and display choices are part of the key.
    client.cookies.set("bippop_lang", "en")
    english = client.get("/", headers=host(council.slug))
    assert english.headers[CACHED_HEADER] == "miss" and 'lang="en"' in english.text
    client.cookies.clear()
    # A query string (?lang=, a tracker) is answered afresh and not kept.
    assert CACHED_HEADER not in client.get("/?lang=fr", headers=host(council.slug)).headers


def test_a_change_of_branding_or_of_modules_shows_at_once(
    web: tuple[TestClient[Any], list[str]],
    council: TenantRef,
    settings: Settings,
    resources: PlatformResources,
) -> None:
    client, _statements = web
    client.get("/", headers=host(council.slug))
    assert client.get("/", headers=host(council.slug)).headers[CACHED_HEADER] == "hit"
    with resources.sessions()() as session, session.begin():
        service = TenantService(session, base_domain=settings.base_domain, host_cache=resources.host_cache)
        service.set_branding(service.get(council.id), {"tagline": "Personne ne reste seul à Cachette"})
    branded = client.get("/", headers=host(council.slug))
    assert branded.headers[CACHED_HEADER] == "miss" and "Personne ne reste seul à Cachette" in branded.text
    assert client.get("/", headers=host(council.slug)).headers[CACHED_HEADER] == "hit"
    assert "services-title" in branded.text
    with resources.sessions()(info={"tenant": council}) as session, session.begin():
        session.merge(Setting(key="modules.enabled", value=[]))  # every module switched off
    forget_tenant_settings(resources, council)  # what switching a module off does after its commit
    closed = client.get("/", headers=host(council.slug))
    assert closed.headers[CACHED_HEADER] == "miss" and "services-title" not in closed.text


def test_a_signed_in_person_is_never_served_a_kept_page(
    web: tuple[TestClient[Any], list[str]], council: TenantRef, resources: PlatformResources
) -> None:
    client, _statements = web
    client.get("/", headers=host(council.slug))
    _id, email, _secret = make_person(resources, council, ["volunteer"], name="Bénédicte Bénévole")
    log_in(client, council.slug, email)
    for _ in range(2):
        page = client.get("/", headers=host(council.slug))
        assert CACHED_HEADER not in page.headers and 'action="/deconnexion"' in page.text


def test_the_cache_is_bounded_and_forgets_after_its_time() -> None:
    now = [0.0]
    cache = PageCache(max_entries=2, seconds=10, clock=lambda: now[0])
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.put("c", "C")
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C" and len(cache) == 2
    now[0] = 20.0  # expired for as long as it was kept: given to nobody
    assert cache.get("a") is None and cache.get("c") is None and len(cache) == 0


def test_an_expired_page_is_made_again_by_one_request_while_the_others_get_it() -> None:
    now = [0.0]
    cache = PageCache(seconds=10, clock=lambda: now[0])
    cache.put("home", "old")
    now[0] = 10.5
    assert cache.get("home") is None  # the first request after its time makes it again
    assert [cache.get("home") for _ in range(3)] == ["old"] * 3  # the others meanwhile: no stampede
    now[0] = 10.5 + REFRESH_SECONDS  # that request never put it back (it failed): the next one tries
    assert cache.get("home") is None and cache.get("home") == "old"
    cache.put("home", "new")
    assert cache.get("home") == "new"
    now[0] = 10.5 + REFRESH_SECONDS + 20  # put at 12.5 for 10 s, and 10 more past it: given to nobody
    assert cache.get("home") is None and cache.get("home") is None
