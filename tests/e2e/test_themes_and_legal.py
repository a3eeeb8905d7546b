"""Themes, display preferences and legal pages in a real browser, driven by labels and roles, with
axe-core: the header keeps to two rows on a phone, high contrast and large text are switched on and
remembered, the legal pages are reached from the footer (a tenant's and the public site's), a named
theme dresses a tenant, and an administrator edits the legal pages from the management navigation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import update

from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.cache import HostCache
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Tenant
from e2e.accessibility import assert_accessible
from support import BASE_DOMAIN, DEFAULT_PASSWORD, make_person, make_tenant, totp_now

pytestmark = pytest.mark.e2e

SLUG = "themeville"
PHONE = {"width": 390, "height": 844}
# The header's items, in reading order: brand, menu or account links, languages and « Display ».
HEADER_ITEMS = """() => [...document.querySelectorAll(
    '.site-header .brand, .site-header summary, .site-header nav a, .site-header nav button')]
  .filter(e => e.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true}))
  .map(e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })"""


WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll('main *, header *, footer *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className)"""


def assert_no_sideways_scroll(page: Any, what: str) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate(WIDER_THAN_THE_SCREEN) if width[0] > width[1] else []
    assert width[0] <= width[1], (what, width, wide)


def header_rows(page: Any) -> tuple[int, float, float]:
    """(rows the header's items sit on, the header's height, its brand's line height) in CSS pixels."""
    items = page.evaluate(HEADER_ITEMS)
    rows: list[tuple[float, float]] = []
    for top, bottom in sorted(items):
        if rows and top < rows[-1][1] - 4:  # overlaps the current row: same row
            rows[-1] = (rows[-1][0], max(rows[-1][1], bottom))
        else:
            rows.append((top, bottom))
    height = page.evaluate("document.querySelector('.site-header').getBoundingClientRect().height")
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.brand')).lineHeight)")
    return len(rows), height, line


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    return make_tenant(
        settings,
        SLUG,
        "Saint-Thème-des-Bois-sur-Mer",
        branding={"tagline": "Entraide entre voisins", "contact_phone": "02 98 00 00 09"},
    )


def set_theme(settings: Settings, resources: PlatformResources, theme: str) -> None:
    with resources.admin_sessions()() as session, session.begin():
        session.execute(update(Tenant).where(Tenant.slug == SLUG).values(theme=theme))
    client = Redis.from_url(settings.redis_url or "")
    try:
        HostCache(client).invalidate([f"{SLUG}.{BASE_DOMAIN}"])
    finally:
        client.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="fr-FR", viewport=PHONE)
    yield context.new_page()
    context.close()


def sign_in(page: Any, base: str, email: str, secret: str) -> None:
    page.goto(f"{base}/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(DEFAULT_PASSWORD)
    page.get_by_label("Mot de passe").press("Enter")
    page.wait_for_url("**/connexion/code")
    page.locator("#field-code").fill(totp_now(secret))
    page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/**")


def test_the_header_keeps_to_two_rows_on_a_phone_and_reflows_at_320(
    phone: Any, live_server: str, town: TenantRef, resources: PlatformResources
) -> None:
    base = f"http://{SLUG}.{live_server}"
    phone.goto(f"{base}/")
    rows, height, line = header_rows(phone)
    assert rows <= 2 and height <= 2 * line + 2 * 44 + 24, (rows, height, line)  # was 4 rows, 370 px
    assert_accessible(phone, "home at 390 px")
    # Signed in as staff: the account links fold behind « Menu » and open without JavaScript.
    _, email, secret = make_person(resources, town, ["coordinator", "tenant_admin"], totp=True)
    sign_in(phone, base, email, secret)
    phone.goto(f"{base}/coordination/demandes")
    rows, height, line = header_rows(phone)
    assert rows <= 2, (rows, height)
    menu = phone.locator(".account-menu summary")
    assert menu.is_visible() and menu.inner_text() == "Menu"
    menu.click()
    assert phone.get_by_role("link", name="Mon compte").is_visible()
    assert_accessible(phone, "menu open")
    # The coordination navigation is a bar of links, not a bullet list.
    nav = phone.get_by_role("navigation", name="Coordination")
    assert nav.locator("ul").evaluate("e => getComputedStyle(e).display") == "flex"
    assert nav.locator("ul").evaluate("e => getComputedStyle(e).listStyleType") == "none"
    for width in (320, 390):
        phone.set_viewport_size({"width": width, "height": 700})
        for path in ("/", "/coordination/demandes", "/gestion/personnes", "/accessibilite"):
            phone.goto(f"{base}{path}")
            assert_no_sideways_scroll(phone, (width, path))


def test_high_contrast_and_large_text_are_switched_on_remembered_and_off(
    phone: Any, live_server: str, town: TenantRef
) -> None:
    base = f"http://{SLUG}.{live_server}"
    phone.goto(f"{base}/")
    phone.get_by_role("link", name="Affichage", exact=True).click()
    phone.wait_for_url("**/affichage?**")
    assert_accessible(phone, "display page")
    phone.get_by_label("Contraste renforcé").check()
    phone.get_by_label("Grands caractères").check()
    phone.get_by_role("button", name="Enregistrer et revenir à la page").click()
    phone.wait_for_url(f"{base}/")
    html = phone.locator("html")
    assert set((html.get_attribute("class") or "").split()) == {"display-contrast", "display-large"}
    size = phone.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert 20 <= size <= 24, size  # 125–150 % of 16 px
    assert phone.evaluate("getComputedStyle(document.body).color") == "rgb(0, 0, 0)"
    assert phone.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    assert_no_sideways_scroll(phone, "large text at 390 px")
    assert_accessible(phone, "high contrast, large text")
    # Remembered on the next page, reached from the footer.
    phone.get_by_role("contentinfo").get_by_role("link", name="Mentions légales").click()
    phone.wait_for_url("**/mentions-legales")
    assert "display-contrast" in (phone.locator("html").get_attribute("class") or "")
    phone.set_viewport_size({"width": 320, "height": 640})
    assert_no_sideways_scroll(phone, "large text at 320 px")
    # And switched off again.
    phone.get_by_role("link", name="Affichage", exact=True).click()
    phone.get_by_label("Contraste renforcé").uncheck()
    phone.get_by_label("Grands caractères").uncheck()
    phone.get_by_role("button", name="Enregistrer et revenir à la page").click()
    phone.wait_for_url("**/mentions-legales")
    assert not phone.locator("html").get_attribute("class")


@pytest.mark.parametrize("site", ["tenant", "public"])
def test_the_three_legal_pages_are_reached_from_the_footer(
    browser: Any, live_server: str, town: TenantRef, settings: Settings, site: str
) -> None:
    base = f"http://{SLUG}.{live_server}" if site == "tenant" else f"http://{live_server}"
    publisher = "Saint-Thème-des-Bois-sur-Mer" if site == "tenant" else settings.coop_name
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    for link, heading, path in (
        ("Accessibilité", "Déclaration d’accessibilité", "/accessibilite"),
        ("Mentions légales", "Mentions légales", "/mentions-legales"),
        ("Données personnelles", "Politique de confidentialité", "/confidentialite"),
    ):
        page.goto(f"{base}/")
        page.get_by_role("contentinfo").get_by_role("link", name=link, exact=True).click()
        page.wait_for_url(f"**{path}")
        assert page.get_by_role("heading", level=1).inner_text() == heading
        assert publisher in page.locator("main").inner_text()
        assert_accessible(page, (site, path))
    context.close()


def test_a_named_theme_dresses_the_tenant(
    browser: Any, live_server: str, town: TenantRef, settings: Settings, resources: PlatformResources
) -> None:
    base = f"http://{SLUG}.{live_server}"
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    try:
        for theme, colour in (("bocage", "rgb(47, 93, 58)"), ("littoral", "rgb(0, 86, 122)")):
            set_theme(settings, resources, theme)
            page.goto(f"{base}/")
            header = page.locator(".site-header")
            assert header.evaluate("e => getComputedStyle(e).backgroundColor") == colour, theme
            assert page.locator(f".hero-{theme}").is_visible()
            assert_accessible(page, theme)
    finally:
        set_theme(settings, resources, "base")
        context.close()


def test_an_administrator_edits_the_legal_pages_from_the_management_navigation(
    browser: Any, live_server: str, town: TenantRef, resources: PlatformResources
) -> None:
    base = f"http://{SLUG}.{live_server}"
    _, email, secret = make_person(resources, town, ["tenant_admin"], totp=True)
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    sign_in(page, base, email, secret)
    page.goto(f"{base}/gestion/personnes")
    page.get_by_role("navigation", name="Gestion").get_by_role("link", name="Pages légales").click()
    page.wait_for_url("**/gestion/pages-legales")
    assert_accessible(page, "legal pages form")
    page.get_by_label("Date de l’audit de conformité").fill("2099-01-01")
    page.get_by_label("Directeur ou directrice de la publication").fill("Mme Ada Lovelace, maire")
    page.get_by_role("button", name="Enregistrer les pages légales").click()
    assert page.get_by_role("alert").is_visible()  # a date in the future, said next to its field
    assert (
        page.get_by_label("Directeur ou directrice de la publication").input_value()
        == "Mme Ada Lovelace, maire"
    )
    assert_accessible(page, "legal pages form refused")
    page.get_by_label("Date de l’audit de conformité").fill("")
    page.get_by_role("button", name="Enregistrer les pages légales").click()
    page.wait_for_url("**/gestion/pages-legales?saved=1")
    page.get_by_role("link", name="Mentions légales").first.click()
    assert "Mme Ada Lovelace, maire" in page.locator("main").inner_text()
    context.close()
