"""Cross-tenant checks over every route of the app, read from Litestar's route table.

A new route is covered automatically: it is requested on another tenant's host,
on unknown and platform hosts, and with forged forwarding headers; none of these
may show the other tenant's data.
"""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bippop.app import create_app
from bippop.config import Settings
from bippop.tenants.context import TenantRef, tenant_cache_key
from bippop.tenants.resolution import ANY_SITE, DEFAULT_SITES
from support import BASE_DOMAIN, host

PARAM = re.compile(r"\{[^}]+\}")


def _get_paths(app: Litestar) -> list[tuple[str, tuple[str, ...] | str]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if "GET" not in handler.http_methods:
                continue
            sites = handler.opt.get("sites", DEFAULT_SITES)
            found.append((PARAM.sub("x", route.path), sites))
    return found


@pytest.fixture(scope="module")
def routes(settings: Settings) -> list[tuple[str, tuple[str, ...] | str]]:
    return _get_paths(create_app(settings))


def test_every_route_declares_where_it_answers(routes: list[tuple[str, tuple[str, ...] | str]]) -> None:
    assert routes, "no route found: the route table moved?"
    for path, sites in routes:
        assert sites == ANY_SITE or set(sites) <= {"public", "coop", "tenant"}, path
        # Only health checks and static files answer on every host.
        if sites == ANY_SITE:
            assert path in ("/healthz", "/readyz") or path.startswith("/static/"), path


async def test_no_route_shows_another_tenants_data(
    client: AsyncTestClient,
    routes: list[tuple[str, tuple[str, ...] | str]],
    tenant: TenantRef,
    other_tenant: TenantRef,
) -> None:
    forged = {
        "X-Forwarded-Host": f"beta.{BASE_DOMAIN}",
        "X-Original-Host": f"beta.{BASE_DOMAIN}",
        "Forwarded": f"host=beta.{BASE_DOMAIN}",
        "X-Tenant": "beta",
    }
    attempts = 0
    for path, sites in routes:
        if path.startswith("/static/"):
            continue
        for headers in (host("alpha"), host("aide.alphaville.fr"), {**host("alpha"), **forged}):
            response = await client.get(path, headers=headers, follow_redirects=False)
            attempts += 1
            assert "Bétaville" not in response.text, (path, headers)
            assert "entraide.betaville.fr" not in response.text, (path, headers)
        for unknown in (f"nobody.{BASE_DOMAIN}", "evil.example", f"beta.{BASE_DOMAIN}.evil.example"):
            response = await client.get(path, headers={"Host": unknown, **forged}, follow_redirects=False)
            attempts += 1
            if sites != ANY_SITE:
                assert response.status_code == 404, (path, unknown)
            assert "Bétaville" not in response.text and "Alphaville" not in response.text
        if sites != ANY_SITE and "tenant" in sites:
            # A tenant page answers on a platform host only where the route says it serves that host too.
            for platform_host, kind in ((BASE_DOMAIN, "public"), (f"coop.{BASE_DOMAIN}", "coop")):
                if kind in sites:
                    continue
                response = await client.get(path, headers={"Host": platform_host})
                attempts += 1
                assert response.status_code == 404, (path, platform_host)
    assert attempts >= 20


def test_cache_keys_carry_the_tenant(tenant: TenantRef, other_tenant: TenantRef) -> None:
    assert tenant_cache_key("home", tenant=tenant) != tenant_cache_key("home", tenant=other_tenant)
    assert str(tenant.id) in tenant_cache_key("home", tenant=tenant)


async def test_the_process_local_host_lookups_keep_each_tenant_apart(
    client: AsyncTestClient, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    """Each web process keeps what Redis said of a host for a second (``tenants.cache``): answered from
    those copies, alternating requests of two tenants (subdomains and custom domains) show each its own."""
    app = client.app
    assert app.state.resolver.cache.local_seconds > 0
    for _ in range(3):  # the first round fills the copies, the next ones are answered from them
        for headers, own, other in (
            (host("alpha"), "Alphaville", "Bétaville"),
            (host("entraide.betaville.fr"), "Bétaville", "Alphaville"),
            (host("beta"), "Bétaville", "Alphaville"),
            (host("aide.alphaville.fr"), "Alphaville", "Bétaville"),
        ):
            page = await client.get("/", headers=headers)
            assert page.status_code == 200 and own in page.text and other not in page.text, headers
    kept = app.state.resolver.cache.kept_hosts()
    assert {f"alpha.{BASE_DOMAIN}", f"beta.{BASE_DOMAIN}"} <= set(kept)
