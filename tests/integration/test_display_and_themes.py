"""Display preferences (high contrast, large text) on every site, without an account nor JavaScript, and
a tenant's page dressed in its theme: the theme's colours and fonts first, the tenant's own colours over
them, the theme's stylesheet and templates."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from redis import Redis
from sqlalchemy import update

from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.cache import HostCache
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Tenant
from bippop.web.display import DISPLAY_COOKIE
from support import BASE_DOMAIN, host, make_tenant

Client = TestClient[Litestar]
SLUG = "affichageville"


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    return make_tenant(settings, SLUG, "Affichageville")


@contextlib.contextmanager
def browser(settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        yield client


def set_theme(
    settings: Settings, resources: PlatformResources, slug: str, theme: str, **branding: str
) -> None:
    """What the branding editor does, behind the pages' back: the row, then the host cache forgotten."""
    with resources.admin_sessions()() as session, session.begin():
        values: dict[str, object] = {"theme": theme}
        if branding:
            values["branding"] = branding
        session.execute(update(Tenant).where(Tenant.slug == slug).values(**values))
    client = Redis.from_url(settings.redis_url or "")
    try:
        HostCache(client).invalidate([f"{slug}.{BASE_DOMAIN}"])
    finally:
        client.close()


def choose(web: Client, hostname: str, choices: list[str], next_url: str) -> str:
    form = web.get(f"/affichage?next_url={next_url}", headers={"Host": hostname})
    assert form.status_code == 200 and 'name="display"' in form.text
    token = str(web.cookies.get("csrftoken"))
    saved = web.post(
        "/affichage",
        data={"display": choices, "next_url": next_url, "_csrf_token": token},
        headers={"Host": hostname},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    return saved.headers["location"]


@pytest.mark.parametrize("site", ["tenant", "public", "coop"])
def test_a_visitor_switches_contrast_and_large_text_on_and_off(
    settings: Settings, town: TenantRef, site: str
) -> None:
    hostname = {"tenant": f"{SLUG}.{BASE_DOMAIN}", "public": BASE_DOMAIN, "coop": f"coop.{BASE_DOMAIN}"}[site]
    next_url = "/connexion"
    with browser(settings) as web:
        page = web.get(next_url, headers={"Host": hostname})
        assert "display-contrast" not in page.text.split("<head>")[0]
        assert choose(web, hostname, ["contrast", "large"], next_url) == next_url
        cookie = next(c for c in web.cookies.jar if c.name == DISPLAY_COOKIE)
        assert cookie.value == "contrast.large" and (cookie.expires or 0) - time.time() > 360 * 86400
        for path in (next_url, "/accessibilite"):  # remembered on every page
            opening = web.get(path, headers={"Host": hostname}).text.split("<head>")[0]
            assert 'class="display-contrast display-large"' in opening, path
        assert "checked" in web.get("/affichage", headers={"Host": hostname}).text
        choose(web, hostname, [], next_url)
        assert "display-" not in web.get(next_url, headers={"Host": hostname}).text.split("<head>")[0]


def test_the_choice_is_kept_a_year_with_samesite_lax_and_the_way_back_stays_on_the_site(
    settings: Settings, town: TenantRef
) -> None:
    with browser(settings) as web:
        web.get("/affichage", headers=host(SLUG))
        token = str(web.cookies.get("csrftoken"))
        saved = web.post(
            "/affichage",
            data={"display": ["large", "bogus"], "next_url": "//evil.example/", "_csrf_token": token},
            headers=host(SLUG),
            follow_redirects=False,
        )
    assert saved.status_code == 303 and saved.headers["location"] == "/"
    header = saved.headers["set-cookie"].lower()
    assert f"{DISPLAY_COOKIE}=large" in header and "max-age=31536000" in header and "samesite=lax" in header


def test_without_the_csrf_token_nothing_is_changed(settings: Settings, town: TenantRef) -> None:
    with browser(settings) as web:
        refused = web.post(
            "/affichage", data={"display": "contrast"}, headers=host(SLUG), follow_redirects=False
        )
    assert refused.status_code == 403


def test_a_tenant_in_a_named_theme_gets_its_colours_fonts_stylesheet_and_hero(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    try:
        set_theme(settings, resources, SLUG, "bocage")
        with browser(settings) as web:
            home = web.get("/", headers=host(SLUG)).text
        assert "--bp-primary: #2f5d3a" in home and '--bp-font-heading: "Iowan Old Style"' in home
        assert "/static/bocage/css/theme.css" in home and "hero-bocage" in home
        set_theme(settings, resources, SLUG, "littoral", primary="#3d5a2a")
        with browser(settings) as web:
            home = web.get("/", headers=host(SLUG)).text
            css = web.get("/static/littoral/css/theme.css", headers=host(SLUG))
        assert "--bp-primary: #3d5a2a" in home  # the tenant's own colour wins over the theme's
        assert "--bp-accent: #9b2f1f" in home and "hero-littoral" in home
        assert css.status_code == 200 and ".hero-littoral" in css.text
    finally:
        set_theme(settings, resources, SLUG, "base")
