"""The public site for councils in a real browser, driven by labels and roles, with axe-core: search
one's collectivity, see its price, write to the co-op, find « Créer le portail de ma collectivité »;
the same journey without JavaScript."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from bippop.outbox.models import PlatformOutboxMessage
from bippop.runtime.resources import PlatformResources
from e2e.accessibility import assert_accessible

pytestmark = pytest.mark.e2e


def spaced(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


@pytest.fixture(params=[True, False], ids=["with-javascript", "without-javascript"])
def page(browser: Any, request: pytest.FixtureRequest) -> Any:
    context = browser.new_context(locale="fr-FR", java_script_enabled=request.param)
    context.javascript_enabled = request.param
    page = context.new_page()
    yield page
    context.close()


def test_a_council_finds_its_price_writes_to_the_coop_and_finds_the_sign_up(
    page: Any, live_server: str, resources: PlatformResources
) -> None:
    from playwright.sync_api import expect

    page.goto(f"http://{live_server}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bip Pop")
    create = page.get_by_role("link", name="Créer le portail de ma collectivité")
    expect(create).to_have_attribute("href", "/inscription")
    assert_accessible(page)

    page.get_by_role("searchbox", name="Votre collectivité").fill("compiegne")
    page.get_by_role("button", name="Voir le prix").click()
    results = page.get_by_role("list").filter(
        has=page.get_by_role("link", name="Compiègne (60 – Oise)", exact=True)
    )
    expect(results).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Compiègne (60 – Oise)", exact=True).click()
    expect(page.get_by_role("heading", name="Compiègne (60 – Oise)", exact=True)).to_be_visible()
    assert " HT par an" in spaced(page.locator("main").inner_text())
    assert "TTC par an" in spaced(page.locator("main").inner_text())
    assert_accessible(page)

    # Another search from the price page (htmx swaps the results in place when JavaScript runs).
    page.get_by_role("searchbox", name="Votre collectivité").fill("60200")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("link", name="Compiègne (60 – Oise)", exact=True)).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Une question sur le prix ? Écrivez à la coopérative").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Écrire à la coopérative")
    assert_accessible(page)
    # Sent empty: each message stands next to its field, the summary first.
    page.get_by_role("button", name="Envoyer mon message").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Votre nom")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)

    visitor = f"secretariat-{uuid.uuid4().hex[:6]}@mairie-exemple.fr"
    page.get_by_label("Votre nom").fill("Claire Martin")
    page.get_by_label("Votre adresse électronique").fill(visitor)
    page.get_by_role("textbox", name="Votre collectivité").fill("Compiègne")
    page.get_by_label("Votre message").fill("Bonjour, nous aimerions une démonstration.")
    page.get_by_role("button", name="Envoyer mon message").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Merci, votre message est envoyé")
    assert_accessible(page)
    with resources.sessions()() as session:
        sent = session.scalars(select(PlatformOutboxMessage).where(PlatformOutboxMessage.reply_to == visitor))
        assert len(list(sent)) == 1

    expect(page.get_by_role("link", name="Créer le portail de ma collectivité")).to_have_attribute(
        "href", "/inscription"
    )


def test_the_sign_in_page_of_the_public_site(page: Any, live_server: str, tenant: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"http://{live_server}/connexion")
    expect(page.get_by_role("heading", level=1)).to_have_text("Se connecter au portail de votre collectivité")
    assert_accessible(page)
    page.get_by_role("searchbox", name="Trouvez votre collectivité").fill("compiegne")
    page.get_by_role("button", name="Rechercher").click()
    link = page.get_by_role("link", name="Compiègne (60 – Oise)", exact=True)
    expect(link).to_be_visible()
    assert_accessible(page)
    assert link.get_attribute("href") == "/connexion?collectivite=commune%3A60159"
