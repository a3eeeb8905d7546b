"""Host resolution: subdomains, custom domains, platform hosts, unknown hosts, cache invalidation."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from bippop.config import Settings
from bippop.runtime.operations import change_status, resources_for
from bippop.tenants.context import TenantRef
from bippop.tenants.services import TenantService
from support import BASE_DOMAIN, host


async def test_subdomain_serves_the_tenant_home_page(client: AsyncTestClient, tenant: TenantRef) -> None:
    response = await client.get("/", headers=host("alpha"))
    assert response.status_code == 200
    assert "Alphaville" in response.text
    assert '<html lang="fr">' in response.text
    assert "--bp-primary: #7a1f3d" in response.text


async def test_custom_domain_serves_the_same_tenant(client: AsyncTestClient, tenant: TenantRef) -> None:
    response = await client.get("/", headers=host("aide.alphaville.fr"))
    assert response.status_code == 200
    assert "Alphaville" in response.text


async def test_host_with_port_and_capitals_resolves(client: AsyncTestClient, tenant: TenantRef) -> None:
    response = await client.get("/", headers={"Host": f"ALPHA.{BASE_DOMAIN}:8000"})
    assert response.status_code == 200


async def test_unknown_host_is_a_plain_404_naming_no_tenant(
    client: AsyncTestClient, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    for unknown in (f"nobody.{BASE_DOMAIN}", "example.org", f"a.b.{BASE_DOMAIN}"):
        response = await client.get("/", headers={"Host": unknown})
        assert response.status_code == 404, unknown
        assert response.text == "Not Found"
        assert "alpha" not in response.text.lower()


async def test_invalid_host_header_is_refused(client: AsyncTestClient) -> None:
    response = await client.get("/", headers={"Host": "bad host!"})
    assert response.status_code == 400


async def test_platform_hosts(client: AsyncTestClient, tenant: TenantRef) -> None:
    public = await client.get("/", headers={"Host": BASE_DOMAIN})
    assert public.status_code == 200
    assert "Alphaville" not in public.text
    # The co-op console asks its staff to sign in first, on its own host.
    coop = await client.get("/", headers={"Host": f"coop.{BASE_DOMAIN}"}, follow_redirects=False)
    assert coop.status_code == 303 and coop.headers["location"] == "/connexion"
    coop = await client.get("/connexion", headers={"Host": f"coop.{BASE_DOMAIN}"})
    assert coop.status_code == 200
    assert "coopérative" in coop.text.lower() or "co-operative" in coop.text.lower()
    # A tenant-only page does not answer on the co-op's host; the public site has its own /contact (the co-op's).
    response = await client.get("/contact", headers={"Host": f"coop.{BASE_DOMAIN}"})
    assert response.status_code == 404
    response = await client.get("/contact", headers={"Host": BASE_DOMAIN})
    assert response.status_code == 200 and "_csrf_token" in response.text


async def test_htmx_gets_the_fragment_and_a_browser_the_full_page(
    client: AsyncTestClient, tenant: TenantRef
) -> None:
    full = await client.get("/contact", headers=host("alpha"))
    assert full.status_code == 200
    assert full.text.lstrip().startswith("<!doctype html>")
    assert "03 00 00 00 01" in full.text
    fragment = await client.get("/contact", headers={**host("alpha"), "HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "03 00 00 00 01" in fragment.text
    assert "HX-Request" in fragment.headers["vary"]


async def test_language_is_french_by_default_and_english_on_request(
    client: AsyncTestClient, tenant: TenantRef
) -> None:
    english = await client.get("/?lang=en", headers=host("alpha"))
    assert '<html lang="en">' in english.text
    assert "How it works" in english.text
    # The choice is remembered by the cookie the response set.
    again = await client.get("/", headers=host("alpha"))
    assert '<html lang="en">' in again.text
    switch = await client.get(
        "/langue?lang=fr&next_url=/contact", headers=host("alpha"), follow_redirects=False
    )
    assert switch.status_code == 303
    assert switch.headers["location"] == "/contact"
    evil = await client.get(
        "/langue?lang=fr&next_url=//evil.example", headers=host("alpha"), follow_redirects=False
    )
    assert evil.headers["location"] == "/"


async def test_domain_changes_are_seen_at_once(
    client: AsyncTestClient, settings: Settings, other_tenant: TenantRef
) -> None:
    resources = resources_for(settings)
    assert (await client.get("/", headers=host("entraide.betaville.fr"))).status_code == 200  # now cached
    assert (await client.get("/", headers=host("aide.betaville.fr"))).status_code == 404  # cached as unknown
    with resources.admin_sessions().begin() as session:
        service = TenantService(session, base_domain=BASE_DOMAIN, host_cache=resources.host_cache)
        beta = service.require("beta")
        service.remove_domain(beta, "entraide.betaville.fr")
        service.add_domain(beta, "aide.betaville.fr")
    assert (await client.get("/", headers=host("entraide.betaville.fr"))).status_code == 404
    assert (await client.get("/", headers=host("aide.betaville.fr"))).status_code == 200
    with resources.admin_sessions().begin() as session:
        service = TenantService(session, base_domain=BASE_DOMAIN, host_cache=resources.host_cache)
        beta = service.require("beta")
        service.remove_domain(beta, "aide.betaville.fr")
        service.add_domain(beta, "entraide.betaville.fr")


async def test_suspended_tenant_shows_a_calm_notice_and_keeps_its_data(
    client: AsyncTestClient, settings: Settings, other_tenant: TenantRef
) -> None:
    assert (await client.get("/", headers=host("beta"))).status_code == 200
    change_status(settings, "beta", "suspend")
    try:
        response = await client.get("/", headers=host("beta"))
        assert response.status_code == 503
        assert "Bétaville" in response.text
        assert (
            "pause" in response.text.lower()
            or "paused" in response.text.lower()
            or "suspendu" in response.text
        )
    finally:
        change_status(settings, "beta", "reactivate")
    assert (await client.get("/", headers=host("beta"))).status_code == 200


async def test_health_answers_on_any_host(client: AsyncTestClient) -> None:
    for name in ("10.0.0.1", "unknown.example", BASE_DOMAIN):
        response = await client.get("/healthz", headers={"Host": name})
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


READYZ_TOKEN = "jeton-des-sondes-de-test"


async def test_readiness_checks_every_component(settings: Settings) -> None:
    from bippop.app import create_app

    app = create_app(settings.replace(readyz_token=READYZ_TOKEN))
    async with AsyncTestClient(app, base_url=f"http://{BASE_DOMAIN}") as client:
        response = await client.get("/readyz", headers={"X-Readyz-Token": READYZ_TOKEN})
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {
        "postgresql": "ok",
        "redis": "ok",
        "broker": "ok",
        "storage": "ok",
    }


async def test_readiness_names_the_failing_component_without_secrets(settings: Settings) -> None:
    from bippop.app import create_app

    broken = settings.replace(
        redis_url="redis://:s3cret-password@127.0.0.1:1/0",
        broker_url=settings.broker_url,
        readyz_token=READYZ_TOKEN,
    )
    app = create_app(broken)
    async with AsyncTestClient(app, base_url=f"http://{BASE_DOMAIN}") as test_client:
        response = await test_client.get("/readyz", headers={"X-Readyz-Token": READYZ_TOKEN})
    assert response.status_code == 503
    body = response.json()
    assert "redis" in body["failing"]
    assert body["checks"]["postgresql"] == "ok"
    assert "s3cret" not in response.text
    assert "127.0.0.1" not in response.text


async def test_every_response_carries_a_request_id(client: AsyncTestClient, tenant: TenantRef) -> None:
    response = await client.get("/", headers={**host("alpha"), "X-Request-ID": "abcdef123456"})
    assert response.headers["x-request-id"] == "abcdef123456"
    generated = await client.get("/", headers=host("alpha"))
    assert len(generated.headers["x-request-id"]) == 32
