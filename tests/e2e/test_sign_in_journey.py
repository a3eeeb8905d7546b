"""A coordinator signs in with a password and an authenticator code, gets the session warning before
the inactivity timeout, extends the session with the keyboard, and signs out; axe-core checks each page
(and the open warning dialog)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from e2e.accessibility import assert_accessible
from e2e.conftest import serving
from support import DEFAULT_PASSWORD, make_person, totp_now

pytestmark = pytest.mark.e2e

# Coordinators here: 125 s without activity, so the warning (2 minutes before the end) comes after 5 s.
SHORT_SESSIONS = '{"coordinator": [125, 3600]}'


@pytest.fixture(scope="module")
def short_session_server(settings: Settings) -> Iterator[str]:
    with serving(settings.replace(session_timeouts=SHORT_SESSIONS)) as address:
        yield address


def test_sign_in_with_totp_warning_extend_sign_out(
    browser: Any, short_session_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, secret = make_person(resources, tenant, ["coordinator"], totp=True, name="Claire")
    assert secret
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    base = f"http://alpha.{short_session_server}"

    page.goto(f"{base}/connexion")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert_accessible(page)
    # A wrong password first: the message sits next to the field, the summary links to it.
    page.locator("#field-email").fill(email)
    page.locator("#field-password").fill("pas le bon mot de passe")
    page.locator("#field-password").press("Enter")
    page.wait_for_load_state()
    assert page.locator("#error-password").is_visible()
    assert page.locator("#field-password").get_attribute("aria-invalid") == "true"
    assert_accessible(page)

    page.locator("#field-password").fill(DEFAULT_PASSWORD)
    page.locator("#field-password").press("Enter")
    page.wait_for_url("**/connexion/code")
    assert_accessible(page)
    page.locator("#field-code").fill(totp_now(secret))
    page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/compte")
    assert email in page.locator("main").inner_text()
    assert_accessible(page)

    dialog = page.locator("#session-warning")
    dialog.wait_for(state="visible", timeout=30_000)
    # The warning takes focus on its main action, and says how long is left (at least 20 s: WCAG 2.2.1).
    assert page.evaluate("document.activeElement.id") == "session-extend"
    left = page.evaluate(
        "parseInt(document.getElementById('session-warning-text').textContent.match(/\\d+/)[0], 10)"
    )
    assert 20 <= left <= 125
    assert_accessible(page)
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden", timeout=10_000)
    status = page.evaluate("fetch('/session/etat').then(r => r.json())")
    assert status["signed_in"] and status["expires_in"] > 115

    # Sign out from the header: back on the home page, signed out.
    page.get_by_role(
        "button", name="Se déconnecter"
    ).click()  # the visible one: narrow screens have it behind « Menu »
    page.wait_for_url(f"{base}/?signed_out=1")
    assert page.locator("a[href='/connexion']").count() == 1
    status = page.evaluate("fetch('/session/etat').then(r => r.json())")
    assert status["signed_in"] is False
    assert_accessible(page)
    context.close()
