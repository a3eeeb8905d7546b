"""A new council administrator in a real browser: the home page of their unpublished portal shows the
banner, « Premiers pas » lists the next steps, « Publier le portail » opens it, and a signed-out visitor
then gets the « J'ai besoin d'aide » and « Je veux aider » buttons instead of « opening soon »; axe-core
checks each page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bippop.config import Settings
from bippop.onboarding.first_steps import published_statement
from bippop.runtime.resources import PlatformResources
from e2e.accessibility import assert_accessible
from support import DEFAULT_PASSWORD, forget_tenant_settings, make_person, make_tenant, totp_now

pytestmark = pytest.mark.e2e


def test_the_administrator_publishes_the_portal(
    browser: Any, live_server: str, settings: Settings, resources: PlatformResources
) -> None:
    slug = f"ouvre-{uuid.uuid4().hex[:6]}"
    tenant = make_tenant(settings, slug, "Ouvreville")
    with resources.tenant_session(tenant) as session, session.begin():
        session.execute(published_statement(False))  # as the wizard leaves a new portal
    forget_tenant_settings(resources, tenant)
    _, email, secret = make_person(resources, tenant, ["tenant_admin"], totp=True, name="Maire")
    assert secret
    base = f"http://{slug}.{live_server}"

    visitor = browser.new_context(locale="fr-FR")
    anonymous = visitor.new_page()
    anonymous.goto(f"{base}/")
    assert anonymous.get_by_role("heading", name="Ce portail ouvrira bientôt").is_visible()
    assert anonymous.get_by_role("link", name="J'ai besoin d'aide").count() == 0
    assert_accessible(anonymous)
    anonymous.goto(f"{base}/demander")  # a bookmark: only the town hall's phone while unpublished
    assert "ouvrira bientôt" in anonymous.locator("main").inner_text()
    assert anonymous.get_by_role("link", name="Créer mon compte").count() == 0
    assert_accessible(anonymous)
    anonymous.goto(f"{base}/")

    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(f"{base}/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/connexion/code")
    page.get_by_label("Code").fill(totp_now(secret))
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(f"{base}/")
    assert "pas encore publié" in page.locator("#unpublished-banner").inner_text()
    assert_accessible(page)

    page.locator("#unpublished-banner").get_by_role("link", name="Premiers pas").click()
    page.wait_for_url("**/gestion/premiers-pas")
    assert page.get_by_role("heading", name="Premiers pas", level=1).is_visible()
    publish_step = page.locator("#step-publish")
    assert "État : à faire" in publish_step.inner_text()
    assert page.get_by_role("link", name="Inviter un coordinateur").is_visible()
    assert_accessible(page)

    page.get_by_role("button", name="Publier le portail").click()
    page.wait_for_url("**/gestion/premiers-pas?done=published")
    assert page.get_by_role("status").filter(has_text="Votre portail est publié").is_visible()
    assert "État : fait" in page.locator("#step-publish").inner_text()
    assert page.get_by_role("button", name="Dépublier le portail").is_visible()
    assert_accessible(page)

    anonymous.reload()
    assert anonymous.get_by_role("link", name="J'ai besoin d'aide").is_visible()
    assert anonymous.get_by_role("link", name="Je veux aider").is_visible()
    assert anonymous.get_by_role("heading", name="Ce portail ouvrira bientôt").count() == 0
    assert_accessible(anonymous)
    context.close()
    visitor.close()
