"""Issue 11, item 7, in a real browser with axe-core: a visitor without an account learns the three ways
to ask, then signs in and comes back to asking; a signed-in resident becomes a volunteer (the checkbox
refused first, then accepted) and lands on the volunteer's space."""

from __future__ import annotations

from typing import Any

import pytest

from bippop.accounts.models import Person
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from e2e.accessibility import assert_accessible
from support import DEFAULT_PASSWORD, make_person

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    yield page
    context.close()


def test_a_visitor_without_account_sees_three_ways_then_signs_in_to_ask(
    page: Any, live_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    base = f"http://alpha.{live_server}"
    page.goto(f"{base}/")
    page.get_by_role("link", name="J'ai besoin d'aide").first.click()
    page.wait_for_url(f"{base}/demander")
    assert_accessible(page)
    assert page.get_by_role("heading", name="Créer un compte en une étape").is_visible()
    assert (
        page.get_by_role("link", name="Créer mon compte").get_attribute("href")
        == "/inscription?role=beneficiary"
    )
    assert (
        page.get_by_role("link", name="Un proche crée un compte").get_attribute("href")
        == "/inscription?role=relative"
    )
    call = page.get_by_role("link", name="Appeler le 03 00 00 00 01")
    assert call.get_attribute("href") == "tel:0300000001"
    assert page.locator("input[type=password]").count() == 0

    # « I already have an account » → sign in → back to asking.
    page.get_by_role("link", name="Me connecter pour demander de l’aide").click()
    page.wait_for_url("**/connexion?next_url=%2Fdemander")
    page.locator("#field-email").fill(email)
    page.locator("#field-password").fill(DEFAULT_PASSWORD)
    page.locator("#field-password").press("Enter")
    page.wait_for_url(f"{base}/demander")
    assert page.locator("a[href='/demander/visits']").is_visible()
    assert_accessible(page)


def test_the_relative_way_opens_sign_up_with_its_role_chosen(
    page: Any, live_server: str, tenant: TenantRef
) -> None:
    base = f"http://alpha.{live_server}"
    page.goto(f"{base}/demander")
    page.get_by_role("link", name="Un proche crée un compte").click()
    page.wait_for_url(f"{base}/inscription?role=relative")
    assert page.locator("#role-relative").is_checked()
    assert_accessible(page)


def test_a_resident_becomes_a_volunteer(
    page: Any, live_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    person_id, email, _ = make_person(resources, tenant, ["beneficiary"])
    base = f"http://alpha.{live_server}"
    page.goto(f"{base}/connexion")
    page.locator("#field-email").fill(email)
    page.locator("#field-password").fill(DEFAULT_PASSWORD)
    page.locator("#field-password").press("Enter")
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name="Je veux aider").click()
    page.wait_for_url(f"{base}/devenir-benevole")
    assert_accessible(page)
    assert page.get_by_role("heading", name="Les vérifications de la mairie").is_visible()

    # Not ticked: the message next to the box, the summary links to it.
    page.get_by_role("button", name="Devenir bénévole").click()
    page.wait_for_load_state()
    assert page.locator("#error-accept").is_visible()
    assert page.locator("#error-summary a[href='#field-accept']").count() == 1
    assert_accessible(page)

    page.get_by_label("J’accepte que la mairie vérifie mon identité", exact=False).check()
    page.get_by_role("button", name="Devenir bénévole").click()
    page.wait_for_url(f"{base}/benevole")
    assert_accessible(page)
    with resources.sessions()(info={"tenant": tenant}) as session:
        me = session.get(Person, person_id)
        assert me is not None and "volunteer" in me.roles and "beneficiary" in me.roles
    # The home page now leads to the volunteer's space.
    page.goto(f"{base}/")
    assert page.get_by_role("link", name="Je veux aider").get_attribute("href") == "/benevole"
