"""Every page the accounts and help-request work added, in a real browser, in French, as the person who
uses it: axe-core finds no serious or critical violation, and the page's first control inside <main>
is reached with the Tab key alone."""

from __future__ import annotations

import datetime
import hashlib
import uuid
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import update

from bippop.accounts.models import AccountToken, Mandate, Person
from bippop.aid.models import Appointment, HelpRequest
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop_modules.events.models import Event
from support import DEFAULT_PASSWORD, make_person, totp_now

pytestmark = pytest.mark.e2e

axe = Axe()
NEAR = {"latitude": 49.417, "longitude": 2.826}


def check(page: Any, path: str) -> None:
    """Axe, French, and the keyboard reaches the first control of the page's own content."""
    assert page.locator("html").get_attribute("lang") == "fr", path
    results = axe.run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, (path, [(v["id"], [n["target"] for n in v["nodes"]]) for v in serious])
    first = page.evaluate(
        "(() => { const e = document.querySelector('main a[href], main button, main input:not([type=hidden]),"
        " main select, main textarea'); return e ? (e.id || e.outerHTML.slice(0, 80)) : null; })()"
    )
    if first is None:
        return  # nothing to operate on this page
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    page.locator("body").focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement && !!document.activeElement.closest('main')"):
            return
    pytest.fail(f"{path}: nothing in the page's content can be reached with the Tab key")


def visit(page: Any, base: str, paths: list[str]) -> None:
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, (path, response.status if response else None)
        check(page, path)


def sign_in(browser: Any, base: str, email: str, secret: str | None = None) -> Any:
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(f"{base}/connexion")
    page.locator("#field-email").fill(email)
    page.locator("#field-password").fill(DEFAULT_PASSWORD)
    page.locator("#field-password").press("Enter")
    if secret:
        page.wait_for_url("**/connexion/code")
        page.locator("#field-code").fill(totp_now(secret))
        page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/**")
    return page


def set_values(
    resources: PlatformResources, tenant: TenantRef, person_id: uuid.UUID, **values: object
) -> None:
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.execute(update(Person).where(Person.id == person_id).values(**values))


def test_every_new_page_is_accessible_in_french_and_by_keyboard(
    browser: Any, live_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    base = f"http://alpha.{live_server}"
    now = datetime.datetime.now(datetime.UTC)
    beneficiary_id, beneficiary_email, _ = make_person(
        resources, tenant, ["beneficiary"], name="Jeanne Lefèvre"
    )
    relative_id, relative_email, _ = make_person(resources, tenant, ["relative"], name="Sophie Lefèvre")
    volunteer_id, volunteer_email, _ = make_person(resources, tenant, ["volunteer"], name="Julien Petit")
    _, staff_email, staff_secret = make_person(
        resources, tenant, ["coordinator", "tenant_admin"], totp=True, name="Claire Martin"
    )
    set_values(resources, tenant, beneficiary_id, phone="06 12 34 56 78", **NEAR)
    set_values(resources, tenant, volunteer_id, vetting_level=2, skills=["reading_aloud"], **NEAR)
    raw_link = uuid.uuid4().hex
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.add(
            Mandate(
                id=uuid.uuid4(), relative_id=relative_id, beneficiary_id=beneficiary_id, consent="written"
            )
        )
        request = HelpRequest(
            id=uuid.uuid4(),
            module="reading",
            beneficiary_id=beneficiary_id,
            created_as="beneficiary",
            status="scheduled",
            volunteer_id=volunteer_id,
            details={"where": "home"},
            **NEAR,
        )
        session.add(request)
        session.flush()
        appointment = Appointment(
            id=uuid.uuid4(),
            request_id=request.id,
            volunteer_id=volunteer_id,
            starts_at=now - datetime.timedelta(hours=3),
            ends_at=now - datetime.timedelta(hours=2),
        )
        event = Event(
            id=uuid.uuid4(),
            title="Loto des aînés",
            place="Salle des fêtes",
            starts_at=now + datetime.timedelta(days=4),
            ends_at=now + datetime.timedelta(days=4, hours=2),
            capacity=20,
        )
        session.add_all([appointment, event])
        session.add(
            AccountToken(
                id=uuid.uuid4(),
                purpose="reset_password",
                token_hash=hashlib.sha256(raw_link.encode()).hexdigest(),
                person_id=beneficiary_id,
                expires_at=now + datetime.timedelta(hours=1),
            )
        )

    # Nobody signed in.
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    visit(
        page,
        base,
        [
            "/connexion",
            "/inscription",
            "/connexion/lien",
            "/mot-de-passe-oublie",
            "/evenements",
            f"/lien/{raw_link}",
            "/accessibilite",
            "/mentions-legales",
            "/confidentialite",
            "/affichage",
            "/demander",  # signed out: the three ways to ask
        ],
    )
    context.close()

    # The person helped, who also sets up two-step sign-in (offered) and sees their recovery codes.
    page = sign_in(browser, base, beneficiary_email)
    visit(
        page,
        base,
        [
            "/demander",
            "/demander/reading",
            "/mes-demandes",
            f"/mes-demandes/{request.id}",
            "/compte",
            "/compte/mandats",
            "/signaler",
            "/devenir-benevole",
            "/compte/double-authentification",
        ],
    )
    secret = page.locator(".secret").inner_text().replace(" ", "")
    page.locator("#field-code").fill(totp_now(secret))
    page.locator("#field-code").press("Enter")
    page.wait_for_load_state()
    assert page.locator("ul.codes li").count() == 10
    check(page, "recovery codes")
    page.context.close()

    page = sign_in(browser, base, relative_email)
    visit(page, base, ["/demander/walks", "/compte/mandats"])
    page.context.close()

    # The volunteer, who also asks for a calendar link.
    page = sign_in(browser, base, volunteer_email)
    visit(
        page,
        base,
        [
            "/benevole",
            f"/benevole/demandes/{request.id}",
            "/benevole/disponibilites",
            f"/benevole/rendez-vous/{appointment.id}/compte-rendu",
        ],
    )
    page.goto(f"{base}/benevole")
    page.get_by_role("button", name="Obtenir mon lien d’agenda").click()
    page.wait_for_load_state()
    assert "/agenda/" in page.locator(".secret").inner_text()
    check(page, "calendar link")
    page.context.close()

    # The coordinator and administrator.
    page = sign_in(browser, base, staff_email, staff_secret)
    visit(
        page,
        base,
        [
            "/gestion/personnes",
            f"/gestion/personnes/{beneficiary_id}",
            "/gestion/invitations",
            "/gestion/mandats",
            "/gestion/journal",
            "/gestion/pages-legales",
            "/gestion/factures",
            "/coordination/appel",
            "/coordination/demandes",
            f"/coordination/demandes/{request.id}",
            "/coordination/taches",
            "/coordination/signalements",
            "/coordination/benevoles",
            f"/coordination/benevoles/{volunteer_id}",
            "/coordination/evenements",
            f"/coordination/evenements/{event.id}",
            "/coordination/modules",
            "/coordination/modules/events",  # a module's settings (its manifest's fields)
            "/coordination/exports",
            "/coordination/impact",
        ],
    )
    page.context.close()


def test_the_co_op_console_pages(
    browser: Any, live_server: str, settings: Any, resources: PlatformResources
) -> None:
    import pyotp

    from bippop.accounts import mfa
    from bippop.coop.auth import create_staff

    email = f"ops-{uuid.uuid4().hex[:6]}@coop.example"
    with resources.admin_sessions()() as session, session.begin():
        staff = create_staff(
            session, email=email, name="Nadia Coop", role="coop_admin", password=DEFAULT_PASSWORD
        )
        secret = mfa.start_enrollment(staff, settings.effective_secret_key())  # type: ignore[arg-type]
        staff.totp_confirmed_at = datetime.datetime.now(datetime.UTC)
    base = f"http://coop.{live_server}"
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    visit(page, base, ["/connexion"])
    page.locator("#field-email").fill(email)
    page.locator("#field-password").fill(DEFAULT_PASSWORD)
    page.locator("#field-password").press("Enter")
    page.wait_for_url("**/connexion/code")
    check(page, "co-op code")
    page.locator("#field-code").fill(pyotp.TOTP(secret).now())
    page.locator("#field-code").press("Enter")
    page.wait_for_url(f"{base}/")
    check(page, "co-op console")
    # Every page of the console without an id in its path: axe, French, the keyboard.
    visit(
        page,
        base,
        [
            "/?statut=active",
            "/factures",
            "/chorus",
            "/relances",
            "/revenus",
            "/offres",
            "/offres/nouvelle",
            "/equipe",
            "/equipe/inviter",
            "/journal",
        ],
    )
    context.close()
