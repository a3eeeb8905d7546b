"""The branding editor in a real browser, driven by labels and roles, checked with axe-core (also on the
htmx-swapped preview): upload a logo, a colour refused then accepted, another theme — then all of it on
the portal's home page."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from e2e.accessibility import assert_accessible
from support import DEFAULT_PASSWORD, make_person, make_tenant, totp_now

pytestmark = pytest.mark.e2e


def png(width: int = 48, height: int = 24) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x1d\x4f\x91" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def showcase(settings: Settings) -> TenantRef:
    return make_tenant(settings, "vitrine", "Vitrineville")


def test_logo_colours_and_theme_are_set_and_seen_on_the_portal(
    browser: Any, live_server: str, resources: PlatformResources, showcase: TenantRef, tmp_path: Path
) -> None:
    _id, email, secret = make_person(resources, showcase, ["tenant_admin"], totp=True, name="Ada")
    assert secret
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    base = f"http://vitrine.{live_server}"
    page.goto(f"{base}/langue?lang=en&next_url=/connexion")
    page.get_by_label("E-mail").first.fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/connexion/code")
    page.locator("#field-code").fill(totp_now(secret))
    page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/gestion/personnes")
    page.get_by_role("navigation", name="Management").get_by_role("link", name="Appearance").click()
    page.wait_for_url("**/gestion/apparence")
    assert_accessible(page)

    # The logo: a PNG, checked by its content, then shown on the page.
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    page.get_by_label("Logo file").set_input_files(str(logo))
    page.get_by_role("button", name="Upload the logo").click()
    page.wait_for_url("**/gestion/apparence?saved=logo")
    assert page.get_by_role("img", name="Current logo").is_visible()

    # A colour too light: the live preview (htmx) tells the contrast, politely; saving refuses it.
    page.get_by_label("Main colour").fill("#ffcc00")
    page.get_by_role("button", name="Preview the colours").click()
    preview = page.locator("#preview")
    preview.get_by_text(re.compile(r"has a contrast of only 1\.\d+:1")).wait_for()
    assert preview.get_attribute("aria-live") == "polite"
    assert page.url.endswith("/gestion/apparence?saved=logo")  # swapped in place by htmx, not a new page
    assert_accessible(page)
    page.get_by_label("Tagline").fill("Ici, personne ne reste seul.")
    page.get_by_role("button", name="Save the appearance").click()
    page.wait_for_load_state()
    assert page.locator("#error-primary").is_visible()
    assert page.get_by_label("Main colour").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Tagline").input_value() == "Ici, personne ne reste seul."  # nothing lost
    assert_accessible(page)

    # A dark one is accepted; another theme; saved.
    page.get_by_label("Main colour").fill("#004d40")
    page.get_by_role("button", name="Preview the colours").click()
    preview.get_by_text(re.compile(r"Contrast of white text: 9\.\d+:1")).wait_for()
    page.get_by_role("radio", name=re.compile("Bocage")).check()
    page.get_by_role("button", name="Save the appearance").click()
    page.wait_for_url("**/gestion/apparence?saved=appearance")
    assert page.get_by_role("status").first.is_visible()

    # The portal, as a visitor sees it.
    visitor = browser.new_context(locale="fr-FR").new_page()
    visitor.goto(f"{base}/")
    assert "Ici, personne ne reste seul." in visitor.locator("main").inner_text()
    assert "--bp-primary: #004d40" in visitor.content()
    assert visitor.locator("link[rel=stylesheet][href*='/static/bocage/']").count() >= 1
    header_logo = visitor.locator("header img.logo")
    assert header_logo.get_attribute("src").startswith("/logo?v=")
    assert visitor.evaluate("document.querySelector('header img.logo').naturalWidth") == 48
    assert_accessible(visitor)
    visitor.context.close()
    context.close()


def test_the_preview_works_without_javascript(
    browser: Any, live_server: str, resources: PlatformResources, showcase: TenantRef
) -> None:
    _id, email, secret = make_person(resources, showcase, ["tenant_admin"], totp=True)
    assert secret
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    page = context.new_page()
    base = f"http://vitrine.{live_server}"
    page.goto(f"{base}/langue?lang=en&next_url=/connexion")
    page.get_by_label("E-mail").first.fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/connexion/code")
    page.locator("#field-code").fill(totp_now(secret))
    page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/gestion/apparence")
    page.get_by_label("Tagline").fill("Gardé tel quel")
    page.get_by_label("Accent colour").fill("#eeeeee")
    page.get_by_role("button", name="Preview the colours").click()
    page.wait_for_url("**/gestion/apparence/apercu")
    assert page.locator("#error-accent").is_visible()  # next to its field, on the whole page
    assert page.get_by_label("Tagline").input_value() == "Gardé tel quel"
    assert "Contrast of white text" in page.locator("#preview").inner_text()
    context.close()  # (axe needs JavaScript: the same page was checked with it above)
