"""Help-request journeys in a real browser, with axe-core on every page and htmx state:

- a person asks for a visit → a volunteer pops → the appointment is reminded → the volunteer files a
  report with a warning sign;
- a relative asks on behalf of a parent;
- a coordinator records a phone request with the keyboard only;
- an event fills up and the next registrant lands on the waiting list.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from bippop.accounts.models import Mandate, Person
from bippop.aid.models import Appointment, CoordinatorTask, HelpRequest
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from e2e.accessibility import assert_accessible
from support import DEFAULT_PASSWORD, make_person, totp_now

pytestmark = pytest.mark.e2e

NEAR = {"latitude": 49.417, "longitude": 2.826}


def person(
    resources: PlatformResources, tenant: TenantRef, roles: list[str], *, totp: bool = False, **values: object
) -> tuple[uuid.UUID, str, str | None]:
    person_id, email, secret = make_person(
        resources, tenant, roles, totp=totp, name=values.pop("name", "Jeanne Lefèvre")
    )  # type: ignore[arg-type]
    if values:
        with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
            session.execute(update(Person).where(Person.id == person_id).values(**values))
    return person_id, email, secret


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
    page.wait_for_url(f"{base}/")
    return page


def test_visit_asked_popped_reminded_reported(
    browser: Any, live_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    base = f"http://alpha.{live_server}"
    beneficiary_id, beneficiary_email, _ = person(
        resources, tenant, ["beneficiary"], phone="06 12 34 56 78", address="12 rue du Port", **NEAR
    )
    _, volunteer_email, _ = person(
        resources, tenant, ["volunteer"], name="Julien Petit", vetting_level=2, **NEAR
    )

    # The person asks: home → "J'ai besoin d'aide" → visits → form (an error first, then sent).
    page = sign_in(browser, base, beneficiary_email)
    assert_accessible(page)
    page.get_by_role("link", name="J'ai besoin d'aide").first.click()
    page.wait_for_url(f"{base}/demander")
    assert_accessible(page)
    page.locator("a[href='/demander/visits']").click()
    page.wait_for_url(f"{base}/demander/visits")
    assert_accessible(page)
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.wait_for_load_state()
    assert page.locator("#error-frequency").is_visible()
    assert_accessible(page)
    page.locator("#frequency-once").check()
    page.locator("#field-interests").fill("Les cartes, le jardin")
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.wait_for_url("**/mes-demandes/*?created=1")
    assert_accessible(page)
    with resources.sessions()(info={"tenant": tenant}) as session:
        request = session.scalars(
            select(HelpRequest).where(HelpRequest.beneficiary_id == beneficiary_id)
        ).one()
    page.context.close()

    # A volunteer pops, then sets the appointment.
    page = sign_in(browser, base, volunteer_email)
    page.goto(f"{base}/benevole")
    assert_accessible(page)
    page.locator(f"a[href='/benevole/demandes/{request.id}']").first.click()
    assert "06 12 34 56 78" not in page.content()
    assert_accessible(page)
    page.get_by_role("button", name="Je peux aider (pop !)").click()
    page.wait_for_url(f"**/benevole/demandes/{request.id}?merci=1")
    assert "06 12 34 56 78" in page.content()
    tomorrow = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=20)).astimezone(
        datetime.timezone(datetime.timedelta(hours=1))
    )
    page.locator("#field-day").fill(tomorrow.strftime("%d/%m/%Y"))
    page.locator("#field-time").fill(tomorrow.strftime("%H:%M"))
    page.get_by_role("button", name="Enregistrer le rendez-vous").click()
    page.wait_for_url(f"**/benevole/demandes/{request.id}")
    assert_accessible(page)

    # The reminder job runs (24 hours before).
    from bippop.aid import reminders as reminder_jobs
    from bippop.outbox.models import OutboxMessage

    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        reminder_jobs.plan_reminders(
            session, now=datetime.datetime.now(datetime.UTC), settings=resources.settings
        )
    with resources.sessions()(info={"tenant": tenant}) as session:
        reminders = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.purpose == "appointment_reminder", OutboxMessage.person_id == beneficiary_id
            )
        ).all()
        assert len(reminders) == 1
        appointment = session.scalars(select(Appointment).where(Appointment.request_id == request.id)).one()
    # The visit happens; the volunteer reports a warning sign.
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.execute(
            update(Appointment)
            .where(Appointment.id == appointment.id)
            .values(
                starts_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2),
                ends_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1),
            )
        )
    page.goto(f"{base}/benevole")
    page.locator(f"a[href='/benevole/rendez-vous/{appointment.id}/compte-rendu']").click()
    assert_accessible(page)
    page.locator("#mood-low").check()
    page.locator("#sign-fall").check()
    page.locator("#field-observations").fill("Elle est tombée dans sa cuisine la semaine dernière.")
    page.get_by_role("button", name="Envoyer le compte rendu").click()
    page.wait_for_url(f"{base}/benevole?rapport=1")
    assert_accessible(page)
    with resources.sessions()(info={"tenant": tenant}) as session:
        task = session.scalars(select(CoordinatorTask).where(CoordinatorTask.request_id == request.id)).one()
        assert task.kind == "warning_sign" and "fall" in (task.note or "")
    page.context.close()


def test_relative_asks_for_a_parent(
    browser: Any, live_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    base = f"http://alpha.{live_server}"
    parent_id, _, _ = person(resources, tenant, ["beneficiary"], name="Marcel Durand", **NEAR)
    relative_id, relative_email, _ = person(resources, tenant, ["relative"], name="Sophie Durand")
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.add(
            Mandate(id=uuid.uuid4(), relative_id=relative_id, beneficiary_id=parent_id, consent="written")
        )
    page = sign_in(browser, base, relative_email)
    page.goto(f"{base}/demander/errands")
    assert "Marcel Durand" in page.content()
    assert_accessible(page)
    page.locator("#field-shopping_list").fill("Pain, lait, pommes")
    page.locator("#field-budget").fill("25")
    page.locator("#payment-cash").check()
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.wait_for_url("**/mes-demandes/*?created=1")
    assert "Marcel Durand" in page.content() or "Courses" in page.content()
    assert_accessible(page)
    with resources.sessions()(info={"tenant": tenant}) as session:
        made = session.scalars(select(HelpRequest).where(HelpRequest.beneficiary_id == parent_id)).one()
        assert made.created_as == "relative" and made.created_by == relative_id
    page.context.close()


def tab_to(page: Any, element_id: str, limit: int = 80) -> None:
    """Press Tab (only Tab) until the element has the focus."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    pytest.fail(f"#{element_id} cannot be reached with the Tab key")


def test_coordinator_records_a_phone_request_with_the_keyboard_only(
    browser: Any, live_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    base = f"http://alpha.{live_server}"
    _, email, secret = person(resources, tenant, ["coordinator"], totp=True, name="Claire Martin")
    page = sign_in(browser, base, email, secret)
    page.goto(f"{base}/coordination/appel")
    assert page.evaluate("document.activeElement.id") == "field-q"  # the cursor waits in the search box
    assert_accessible(page)
    name = f"Gaston Lemoine {uuid.uuid4().hex[:4]}"
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'beneficiary-new'")
    page.keyboard.press("Space")
    tab_to(page, "field-new_name")
    page.keyboard.type(name)
    tab_to(page, "field-new_phone")
    page.keyboard.type("03 44 00 00 00")
    tab_to(page, "new_channel-email")
    for _ in range(6):  # arrow keys move within the radio group, to "the coordinator phones them"
        if page.evaluate("document.activeElement.id") == "new_channel-coordinator":
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    tab_to(page, "module-visits")
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "module-reading":
            break
        page.keyboard.press("ArrowDown")
    page.wait_for_selector("#where-phone")  # htmx brought the module's questions
    assert_accessible(page)
    tab_to(page, "where-home")
    page.keyboard.press("ArrowDown")  # "on the phone"
    tab_to(page, "times-1-pm")
    page.keyboard.press("Space")
    tab_to(page, "field-notes")
    page.keyboard.type("Aime les romans policiers")
    page.keyboard.press("Tab")
    for _ in range(20):
        if (
            page.evaluate("document.activeElement.tagName") == "BUTTON"
            and page.evaluate("document.activeElement.value") == "save"
        ):
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/coordination/demandes/*")
    assert_accessible(page)
    with resources.sessions()(info={"tenant": tenant}) as session:
        recorded = session.scalars(select(Person).where(Person.display_name == name)).one()
        assert recorded.phone == "03 44 00 00 00" and recorded.channels[0] == "coordinator"
        request = session.scalars(select(HelpRequest).where(HelpRequest.beneficiary_id == recorded.id)).one()
        assert request.module == "reading" and request.created_as == "coordinator"
        assert request.details["where"] == "phone"
        assert {"weekday": 1, "start_minute": 840, "end_minute": 1080} in request.preferred_windows
    page.context.close()


def test_event_fills_up_and_the_next_registrant_waits(
    browser: Any, live_server: str, resources: PlatformResources, tenant: TenantRef
) -> None:
    base = f"http://alpha.{live_server}"
    _, coordinator, secret = person(resources, tenant, ["coordinator"], totp=True, name="Claire Martin")
    page = sign_in(browser, base, coordinator, secret)
    page.goto(f"{base}/coordination/evenements")
    assert_accessible(page)
    title = f"Goûter des aînés {uuid.uuid4().hex[:4]}"
    day = (datetime.date.today() + datetime.timedelta(days=10)).strftime("%d/%m/%Y")
    page.locator("#field-title").fill(title)
    page.locator("#field-place").fill("Salle des fêtes")
    page.locator("#field-date").fill(day)
    page.locator("#field-start_time").fill("14:30")
    page.locator("#field-end_time").fill("17:00")
    page.locator("#field-capacity").fill("1")
    page.get_by_role("button", name="Créer l'événement").click()
    page.wait_for_load_state()
    assert title in page.content()
    page.context.close()

    statuses = []
    for who in ("Lucienne Bernard", "Roger Petit"):
        _, email, _ = person(resources, tenant, ["beneficiary"], name=who)
        page = sign_in(browser, base, email)
        page.goto(f"{base}/evenements")
        assert_accessible(page)
        card = page.locator("li.request-card", has_text=title)
        card.get_by_role("button").click()
        page.wait_for_url("**/evenements?inscrit=*")
        statuses.append(page.url.split("inscrit=")[1].split("#")[0])
        assert_accessible(page)
        page.context.close()
    assert statuses == ["registered", "waiting"]
