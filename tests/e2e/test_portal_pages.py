"""The first pages in a real browser: French by default, keyboard-usable, no serious axe violation."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from bippop.config import Settings
from bippop.runtime.operations import change_status
from bippop.tenants.context import TenantRef
from e2e.accessibility import assert_accessible

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    yield page
    context.close()


def test_home_page_in_french_and_contact_fragment_by_keyboard(
    page: Any, live_server: str, tenant: TenantRef
) -> None:
    page.goto(f"http://alpha.{live_server}/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Alphaville" in page.locator("h1").inner_text()
    assert_accessible(page)

    # First Tab reaches the skip link; keep tabbing to the contact action and press Enter.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('hx-get')") == "/contact":
            break
    else:
        pytest.fail("the contact action cannot be reached with the keyboard")
    page.keyboard.press("Enter")
    page.locator("#contact .contact-card").wait_for()
    assert "03 00 00 00 01" in page.locator("#contact").inner_text()
    assert page.url.endswith("/")  # htmx swapped the fragment in place
    assert page.locator("html").count() == 1
    assert_accessible(page)


def test_contact_works_without_javascript(browser: Any, live_server: str, tenant: TenantRef) -> None:
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    page = context.new_page()
    page.goto(f"http://alpha.{live_server}/")
    page.get_by_role("link", name="Afficher les coordonnées").click()
    page.wait_for_url("**/contact")
    assert "03 00 00 00 01" in page.locator("main").inner_text()
    context.close()


def test_full_contact_page_is_accessible(page: Any, live_server: str, tenant: TenantRef) -> None:
    page.goto(f"http://alpha.{live_server}/contact")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert_accessible(page)


def test_english_on_request_and_remembered(page: Any, live_server: str, tenant: TenantRef) -> None:
    page.goto(f"http://alpha.{live_server}/")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "How it works" in page.content()
    page.goto(f"http://alpha.{live_server}/contact")
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page)


@pytest.mark.parametrize("subdomain", ["", "coop."])
def test_platform_pages(page: Any, live_server: str, subdomain: str) -> None:
    page.goto(f"http://{subdomain}{live_server}/")
    assert page.locator("h1").count() == 1
    assert_accessible(page)


def test_suspended_portal_notice(
    page: Any, live_server: str, settings: Settings, other_tenant: TenantRef
) -> None:
    change_status(settings, other_tenant.slug, "suspend")
    try:
        response = page.goto(f"http://beta.{live_server}/")
        assert response is not None and response.status == 503
        assert "Bétaville" in page.locator("h1").inner_text()
        assert_accessible(page)
    finally:
        change_status(settings, other_tenant.slug, "reactivate")


def test_reflows_on_a_small_screen_with_large_text(page: Any, live_server: str, tenant: TenantRef) -> None:
    # RGAA 10.11 / WCAG 1.4.10: 320 CSS px wide, text at 200 %, no horizontal scrolling.
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"http://alpha.{live_server}/")
    page.add_style_tag(content="html { font-size: 225% !important; }")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "bippop-reflow.png"), full_page=True)
    assert overflow <= 0, "horizontal scrolling at 320 px with large text (screenshot in the temp folder)"


def test_page_not_found_is_calm_and_accessible(page: Any, live_server: str, tenant: TenantRef) -> None:
    response = page.goto(f"http://alpha.{live_server}/cette-page-n-existe-pas")
    assert response is not None and response.status == 404
    assert page.locator("html").get_attribute("lang") == "fr"
    assert (
        page.get_by_role("link", name="Retour à l’accueil").count() == 1
        or page.locator("main a").count() >= 1
    )
    assert_accessible(page)


def test_portal_being_prepared(page: Any, live_server: str, settings: Settings) -> None:
    from bippop.runtime.operations import resources_for
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions().begin() as session:
        service = TenantService(session, base_domain=settings.base_domain, host_cache=resources.host_cache)
        if service.by_slug("en-preparation") is None:
            service.register(
                slug="en-preparation",
                name="Préparville",
                kind="commune",
                official_code="03003",
                check_official=False,
            )
    response = page.goto(f"http://en-preparation.{live_server}/")
    assert response is not None and response.status == 503
    assert "Préparville" in page.locator("h1").inner_text()
    assert_accessible(page)


def test_closed_portal_notice(page: Any, live_server: str, settings: Settings) -> None:
    from bippop.runtime.operations import delete_tenant, export_tenant
    from support import make_tenant

    make_tenant(settings, "fermeture", "Fermeville")
    export_tenant(settings, "fermeture")
    delete_tenant(settings, "fermeture", grace_days=30)
    response = page.goto(f"http://fermeture.{live_server}/")
    assert response is not None and response.status == 503
    assert "Fermeville" in page.locator("h1").inner_text()
    assert "fermé" in page.locator("main").inner_text()
    assert_accessible(page)
