"""The coordinator's pages: phone intake (keyboard only, with and without htmx), requests and their actions,
tasks and concerns, vetting, events (and the race for an event's last place), service switches; ids of
another tenant on this tenant's host, and roles without the right."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bippop.accounts import audit
from bippop.accounts.models import AuditEvent, Person, Setting
from bippop.aid.coordination import concern_reported, paris_moment
from bippop.aid.models import (
    Appointment,
    Concern,
    CoordinatorTask,
    HelpRequest,
    RequestEvent,
    RequestMessage,
    RequestOffer,
    VisitReport,
)
from bippop.app import create_app
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.modules.registry import ENABLED_SETTING
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop_modules.events import registrations as event_service
from bippop_modules.events.models import Event, EventRegistration
from support import (
    BASE_DOMAIN,
    csrf_token,
    forget_tenant_settings,
    host,
    log_in,
    make_person,
    make_tenant,
)

SLUG = "coordination"
EN = {"bippop_lang": "en"}
HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true"}
PARIS = ZoneInfo("Europe/Paris")
Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def desk(settings: Settings) -> TenantRef:
    """This module's own tenant: switching its services off must not reach anyone else's tests."""
    return make_tenant(settings, SLUG, "Coordiville")


@contextlib.contextmanager
def browser(settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies=EN) as client:
        yield client


@pytest.fixture
def web(settings: Settings) -> Iterator[Client]:
    with browser(settings) as client:
        yield client


@dataclasses.dataclass(frozen=True)
class Someone:
    id: uuid.UUID
    email: str


def sign_in(
    web: Client, resources: PlatformResources, tenant: TenantRef, roles: list[str], *, name: str = "Staff"
) -> Someone:
    staff = bool({"coordinator", "tenant_admin"} & set(roles))
    person_id, email, secret = make_person(resources, tenant, roles, totp=staff, name=name)
    log_in(web, SLUG, email, secret)
    return Someone(person_id, email)


@dataclasses.dataclass(frozen=True)
class Signed:
    web: Client
    me: Someone


@pytest.fixture(scope="module")
def coordinator(settings: Settings, resources: PlatformResources, desk: TenantRef) -> Iterator[Signed]:
    """One coordinator for the module's tests: sign-ins are rate limited per address."""
    with browser(settings) as client:
        yield Signed(client, sign_in(client, resources, desk, ["coordinator"], name="Coline Coordinator"))


def get(web: Client, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return web.get(
        path,
        params=params or None,
        headers={**host(SLUG), **HTML, **(headers or {})},
        follow_redirects=False,
    )


def post(web: Client, path: str, data: dict[str, Any]) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, SLUG)
    return web.post(
        path, data={**data, "_csrf_token": token}, headers={**host(SLUG), **HTML}, follow_redirects=False
    )


def add_person(
    resources: PlatformResources, tenant: TenantRef, name: str, roles: list[str], **values: Any
) -> uuid.UUID:
    person_id = uuid.uuid4()
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(Person(id=person_id, display_name=name, roles=roles, locale="en", **values))
    return person_id


def add_request(
    resources: PlatformResources,
    tenant: TenantRef,
    beneficiary_id: uuid.UUID,
    *,
    module: str = "visits",
    details: dict[str, Any] | None = None,
    **values: Any,
) -> uuid.UUID:
    request_id = uuid.uuid4()
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(
            HelpRequest(
                id=request_id,
                module=module,
                beneficiary_id=beneficiary_id,
                created_as="beneficiary",
                details=details if details is not None else {"frequency": "once"},
                **values,
            )
        )
        session.flush()
        session.add(
            RequestEvent(id=uuid.uuid4(), request_id=request_id, to_status=values.get("status", "open"))
        )
    return request_id


def load(resources: PlatformResources, tenant: TenantRef, model: Any, row_id: uuid.UUID) -> Any:
    with resources.tenant_session(tenant) as session:
        found = session.get(model, row_id)
        if found is not None:
            session.expunge(found)
        return found


def events(resources: PlatformResources, tenant: TenantRef, action: str, **filters: Any) -> list[AuditEvent]:
    with resources.tenant_session(tenant) as session:
        return list(audit.search(session, action=action, **filters))


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def future_day(days: int = 10) -> datetime.date:
    return datetime.date.today() + datetime.timedelta(days=days)


def run(coroutine_factory: Any, settings: Settings) -> Any:
    """Run ``coroutine_factory(session_factory)`` on an engine of its own (sync tests, async services)."""

    async def go() -> Any:
        engine = make_async_engine(settings)
        try:
            return await coroutine_factory(async_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


@contextlib.contextmanager
def enabled_modules(resources: PlatformResources, tenant: TenantRef, slugs: list[str]) -> Iterator[None]:
    with resources.tenant_session(tenant) as session, session.begin():
        session.merge(Setting(key=ENABLED_SETTING, value=slugs))
    forget_tenant_settings(resources, tenant)
    try:
        yield
    finally:
        with resources.tenant_session(tenant) as session, session.begin():
            session.execute(delete(Setting).where(Setting.key == ENABLED_SETTING))
        forget_tenant_settings(resources, tenant)


# --- phone intake --------------------------------------------------------------------------------


def test_the_intake_form_is_made_for_the_keyboard(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    web = coordinator.web
    page = get(web, "/coordination/appel")
    assert page.status_code == 200
    body = page.text
    assert body.count("<h1") == 1
    # The focus starts in the first field, in speaking order: who, what, when.
    focused = [tag for tag in re.findall(r"<[a-z0-9]+\b[^>]*>", body) if re.search(r"\sautofocus\b", tag)]
    assert len(focused) == 1 and 'id="field-q"' in focused[0]
    assert body.index('id="field-q"') < body.index('id="field-new_name"') < body.index('name="module"')
    assert body.index('name="module"') < body.index('name="times"') < body.index('value="save"')
    # Every visible control has a label; no positive tabindex; nothing needs a mouse.
    for tag in re.findall(r"<(?:input|textarea|select)\b[^>]*>", body):
        if 'type="hidden"' in tag:
            continue
        control_id = re.search(r'\sid="([^"]+)"', tag)
        assert control_id, tag
        assert f'for="{control_id.group(1)}"' in body, tag
    assert not re.search(r'tabindex="[1-9]', body)
    assert "onclick" not in body and "<select" not in body
    # Enter presses the form's first submit button: the one that searches, shows questions or records.
    form = body[body.index('action="/coordination/appel"') :]
    first_button = re.search(r"<button[^>]*>", form)
    assert (
        first_button and 'value="enter"' in first_button.group(0) and 'tabindex="-1"' in first_button.group(0)
    )
    assert 'name="_csrf_token"' in form and 'value="search"' in form and 'value="module"' in form
    assert 'hx-get="/coordination/appel/personnes"' in body and 'hx-get="/coordination/appel/champs"' in body
    assert 'id="module-visits"' in body and 'id="new_channel-coordinator"' in body
    assert 'class="admin-nav"' in body and 'href="/coordination/demandes"' in body


def test_finding_the_person_with_and_without_javascript(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    jeanne = add_person(
        resources, desk, f"Jeanne Lefèvre {tag}", ["beneficiary"], phone="06 12 34 56 78", postcode="60200"
    )
    add_person(resources, desk, f"Jeanne Volunteer {tag}", ["volunteer"])  # not a person helped
    web = coordinator.web
    # Without JavaScript: the Search button re-renders the page with radio buttons, focus on the first.
    found = post(
        web, "/coordination/appel", {"q": f"lefèvre {tag}", "action": "search", "new_address": "kept"}
    )
    assert found.status_code == 200
    assert f'value="{jeanne}"' in found.text and "phone ending …56 78" in found.text
    assert "06 12 34 56 78" not in found.text  # the list identifies, it does not give the number
    assert f"Jeanne Volunteer {tag}" not in found.text
    assert re.search(rf'id="beneficiary-{jeanne}"[^>]*autofocus', found.text)
    assert 'value="kept"' in found.text  # what was typed stays
    # By phone number, however it is written.
    for number in ("0612345678", "+33 6 12 34 56 78", "56 78"):
        by_phone = post(web, "/coordination/appel", {"q": number, "action": "search"})
        assert f'value="{jeanne}"' in by_phone.text, number
    # Enter in the search box (the default button) searches rather than records.
    entered = post(web, "/coordination/appel", {"q": f"Lefèvre {tag}", "searched": "", "action": "enter"})
    assert entered.status_code == 200 and f'value="{jeanne}"' in entered.text
    assert "error-summary" not in entered.text
    # Enter with the list already shown (htmx) but nobody chosen yet: the list again, focus on it.
    again = post(
        web, "/coordination/appel", {"q": f"Lefèvre {tag}", "searched": f"Lefèvre {tag}", "action": "enter"}
    )
    assert again.status_code == 200 and re.search(rf'id="beneficiary-{jeanne}"[^>]*autofocus', again.text)
    # With htmx: only the list comes back, the chosen person kept checked.
    fragment = get(
        web, "/coordination/appel/personnes", headers=HTMX, q=f"Lefè {tag}", beneficiary=str(jeanne)
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f'value="{jeanne}" checked' in fragment.text and 'name="searched"' in fragment.text
    assert get(web, "/coordination/appel/personnes", q="ab\x00cd").status_code == 200
    nobody = get(web, "/coordination/appel/personnes", headers=HTMX, q=f"zzz{tag}")
    assert "Nobody found" in nobody.text and 'id="beneficiary-new"' in nobody.text


def test_choosing_the_kind_of_help_shows_its_questions_and_keeps_what_was_typed(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    web = coordinator.web
    typed = {
        "beneficiary": "new",
        "new_name": "Paul Martin",
        "new_phone": "06 00 00 00 01",
        "times": ["1-am"],
    }
    shown = post(web, "/coordination/appel", {**typed, "module": "visits", "action": "module"})
    assert shown.status_code == 200
    assert 'name="frequency"' in shown.text and 'id="field-recurring"' in shown.text
    assert 'value="Paul Martin"' in shown.text and 'id="times-1-am" value="1-am" checked' in shown.text
    assert re.search(r'id="module-title"[^>]*autofocus', shown.text)
    assert 'name="shown_module" value="visits"' in shown.text
    # Enter after changing the kind of help shows the new questions; it does not record.
    changed = post(
        web,
        "/coordination/appel",
        {**typed, "module": "admin_help", "shown_module": "visits", "action": "enter"},
    )
    assert changed.status_code == 200 and 'name="administration"' in changed.text
    assert 'id="field-recurring"' not in changed.text  # this kind of help is never regular
    # htmx swaps in the questions alone.
    fragment = get(web, "/coordination/appel/champs", headers=HTMX, module="visits", interests="cards")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'name="frequency"' in fragment.text and "cards</textarea>" in fragment.text
    unknown = get(web, "/coordination/appel/champs", headers=HTMX, module="nope")
    assert unknown.status_code == 200 and "its questions appear here" in unknown.text


def test_intake_errors_are_shown_next_to_their_fields(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    web = coordinator.web
    refused = post(
        web,
        "/coordination/appel",
        {
            "beneficiary": "new",
            "new_phone": "12",
            "new_channel": "coordinator",
            "module": "visits",
            "shown_module": "visits",
            "interests": "x" * 301,
            "action": "save",
        },
    )
    assert refused.status_code == 400
    page = refused.text
    assert 'class="error-summary"' in page and re.search(r'id="error-summary"[^>]*autofocus', page)
    assert 'id="error-new_name"' in page and "Enter the person" in page
    assert 'id="error-new_phone"' in page and "06 12 34 56 78" in page
    assert 'id="error-frequency"' in page and "Choose an option." in page  # the module's own validation
    assert 'id="error-interests"' in page and "At most 300 characters" in page
    assert 'href="#field-frequency"' in page and 'href="#field-new_name"' in page
    assert 'value="12"' in page  # kept
    nothing = post(web, "/coordination/appel", {"action": "save"})
    assert nothing.status_code == 400
    assert 'id="error-beneficiary"' in nothing.text and 'id="error-module"' in nothing.text


def test_a_coordinator_records_a_request_for_someone_new(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    web = coordinator.web
    me = coordinator.me
    name = f"Marcel {uuid.uuid4().hex[:6]}"
    done = post(
        web,
        "/coordination/appel",
        {
            "beneficiary": "new",
            "new_name": name,
            "new_phone": "06 98 76 54 32",
            "new_address": "3 rue des Lilas",
            "new_postcode": "60200",
            "new_commune_code": "60159",
            "new_channel": "coordinator",
            "module": "visits",
            "shown_module": "visits",
            "frequency": "weekly",
            "recurring": "on",
            "times": ["0-am", "2-pm"],
            "action": "save",
        },
    )
    assert done.status_code == 303, done.text
    found = re.fullmatch(r"/coordination/demandes/([0-9a-f-]+)\?done=created", done.headers["location"])
    assert found
    help_request = load(resources, desk, HelpRequest, uuid.UUID(found.group(1)))
    assert help_request.created_as == "coordinator" and help_request.created_by == me.id
    assert help_request.recurring and help_request.details == {"frequency": "weekly", "pets": False}
    assert help_request.preferred_windows == [
        {"weekday": 0, "start_minute": 540, "end_minute": 720},
        {"weekday": 2, "start_minute": 840, "end_minute": 1080},
    ]
    person = load(resources, desk, Person, help_request.beneficiary_id)
    assert person.display_name == name and person.roles == ["beneficiary"]
    assert person.channels == ["coordinator"] and person.phone == "06 98 76 54 32" and person.email is None
    assert events(resources, desk, "beneficiary_recorded", subject_id=person.id)
    (created,) = events(resources, desk, "request_created", subject_id=help_request.id)
    assert created.actor_id == me.id and created.details["created_as"] == "coordinator"
    page = get(web, done.headers["location"])
    assert page.status_code == 200 and "The request is recorded" in page.text


def test_a_partner_agent_records_for_a_known_person_helped(
    web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    partner = sign_in(web, resources, desk, ["partner"], name="Agent CCAS")
    beneficiary = add_person(resources, desk, "Known Person", ["beneficiary"], email="known@example.org")
    volunteer = add_person(resources, desk, "Not Helped", ["volunteer"])
    refused = post(
        web,
        "/coordination/appel",
        {"beneficiary": str(volunteer), "module": "visits", "shown_module": "visits", "frequency": "once"},
    )
    assert refused.status_code == 400 and 'id="error-beneficiary"' in refused.text
    done = post(
        web,
        "/coordination/appel",
        {"beneficiary": str(beneficiary), "module": "visits", "shown_module": "visits", "frequency": "once"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/coordination/appel?done=created"
    (created,) = events(resources, desk, "request_created", actor_id=partner.id)
    assert created.details["created_as"] == "partner" and created.details["beneficiary"] == str(beneficiary)
    with resources.tenant_session(desk) as session:
        mail = session.scalars(select(OutboxMessage).where(OutboxMessage.person_id == beneficiary)).all()
    assert [m.purpose for m in mail] == ["request_created_for_you"]
    assert "coordinators take it from here" in get(web, done.headers["location"]).text
    # A partner records requests; following them is the coordinators' job.
    assert get(web, "/coordination/demandes").status_code == 403


# --- requests ------------------------------------------------------------------------------------


def test_the_list_filters_pages_and_hides_services_switched_off(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    beneficiary = add_person(resources, desk, f"Listed {tag}", ["beneficiary"])
    visit = add_request(resources, desk, beneficiary)
    reading = add_request(resources, desk, beneficiary, module="reading", details={"what": "newspaper"})
    ghost = add_request(resources, desk, beneficiary, module="ghost_module", details={})
    web = coordinator.web
    listed = get(web, "/coordination/demandes")
    assert listed.status_code == 200
    assert str(visit) in listed.text and str(reading) in listed.text and str(ghost) not in listed.text
    assert "<caption>" in listed.text and 'scope="col"' in listed.text and 'scope="row"' in listed.text
    assert listed.text.index(str(reading)) < listed.text.index(str(visit))  # newest first
    only_reading = get(web, "/coordination/demandes", module="reading")
    assert str(reading) in only_reading.text and str(visit) not in only_reading.text
    assert str(visit) not in get(web, "/coordination/demandes", status="closed").text
    both = get(web, "/coordination/demandes", status="open", module="reading").text  # one statement each
    assert str(reading) in both and str(visit) not in both
    assert str(reading) not in get(web, "/coordination/demandes", status="closed", module="reading").text
    assert str(visit) in get(web, "/coordination/demandes", status="open").text
    past = get(web, "/coordination/demandes", module="reading", page="9999")  # past the last: counted alone
    assert past.status_code == 200 and str(reading) not in past.text
    assert get(web, f"/coordination/demandes/{ghost}").status_code == 404  # uninstalled: hidden, no error
    with enabled_modules(resources, desk, ["visits"]):
        switched = get(web, "/coordination/demandes")
        assert (
            switched.status_code == 200 and str(reading) not in switched.text and str(visit) in switched.text
        )
        assert get(web, f"/coordination/demandes/{reading}").status_code == 404
        assert (
            post(web, f"/coordination/demandes/{reading}/annuler", {"cancel_reason": "x"}).status_code == 404
        )
        assert get(web, "/coordination/demandes", module="reading").status_code == 200
    assert get(web, f"/coordination/demandes/{reading}").status_code == 200


def test_the_request_page_shows_everything_and_records_the_contact_reading(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    beneficiary = add_person(
        resources,
        desk,
        f"Odette {tag}",
        ["beneficiary"],
        phone="03 44 00 00 00",
        address="1 place de la Mairie",
    )
    volunteer = add_person(resources, desk, f"Victor {tag}", ["volunteer"], vetting_level=1)
    request_id = add_request(
        resources,
        desk,
        beneficiary,
        details={"frequency": "weekly", "interests": "gardening"},
        status="done",
        volunteer_id=volunteer,
    )
    with resources.tenant_session(desk) as session, session.begin():
        appointment_id = uuid.uuid4()
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        session.add(
            Appointment(
                id=appointment_id,
                request_id=request_id,
                volunteer_id=volunteer,
                starts_at=start,
                ends_at=start + datetime.timedelta(hours=1),
                status="done",
            )
        )
        session.flush()
        session.add(
            VisitReport(
                id=uuid.uuid4(),
                appointment_id=appointment_id,
                author_id=volunteer,
                mood="low",
                observations=f"Tired {tag}",
                warning_signs=["fall"],
            )
        )
        session.add(
            RequestMessage(id=uuid.uuid4(), request_id=request_id, author_id=volunteer, body=f"Hello {tag}")
        )
    web = coordinator.web
    me = coordinator.me
    page = get(web, f"/coordination/demandes/{request_id}")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert page.text.count("<h1") == 1
    assert "03 44 00 00 00" in shown and "1 place de la Mairie" in shown
    assert "Every week" in shown and "gardening" in shown  # the module's card and its details
    assert 'class="module-card"' in page.text
    assert "A fall" in shown and f"Tired {tag}" in shown and "Low" in shown
    assert f"Hello {tag}" in shown and f"Victor {tag}" in shown
    assert "Help given" in shown and 'action="/coordination/demandes/' in page.text
    assert f'action="/coordination/demandes/{request_id}/clore"' in page.text
    assert f'action="/coordination/demandes/{request_id}/messages"' in page.text
    (read,) = events(resources, desk, "beneficiary_contact_read", subject_id=beneficiary)
    assert read.actor_id == me.id and read.details == {"request": str(request_id)}
    # Answer, then close.
    empty = post(web, f"/coordination/demandes/{request_id}/messages", {"body": "  "})
    assert empty.status_code == 400 and 'id="error-body"' in empty.text
    sent = post(web, f"/coordination/demandes/{request_id}/messages", {"body": f"Thanks {tag}"})
    assert sent.status_code == 303 and sent.headers["location"].endswith("?done=message")
    closed = post(web, f"/coordination/demandes/{request_id}/clore", {})
    assert closed.status_code == 303
    assert load(resources, desk, HelpRequest, request_id).status == "closed"
    after = get(web, closed.headers["location"])
    assert "The request is closed." in after.text and f"Thanks {tag}" in after.text
    refused = post(web, f"/coordination/demandes/{request_id}/clore", {})
    assert refused.status_code == 400 and "can no longer be changed this way" in refused.text
    assert 'id="field-close"' not in refused.text  # the form is gone: the message is in the summary
    assert get(web, f"/coordination/demandes/{request_id}/nope").status_code in (404, 405)
    assert post(web, f"/coordination/demandes/{request_id}/nope", {}).status_code == 404


def test_offer_assign_schedule_reassign_and_cancel(
    settings: Settings, coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    beneficiary = add_person(
        resources, desk, f"Lucienne {tag}", ["beneficiary"], latitude=49.41, longitude=2.82
    )
    near = add_person(
        resources,
        desk,
        f"Near {tag}",
        ["volunteer"],
        vetting_level=1,
        latitude=49.42,
        longitude=2.82,
        email=f"near-{tag}@example.org",
    )
    add_person(resources, desk, f"Unvetted {tag}", ["volunteer"])
    request_id = add_request(resources, desk, beneficiary)
    web = coordinator.web
    page = get(web, f"/coordination/demandes/{request_id}")
    assert f"Near {tag}" in page.text and f"Unvetted {tag}" not in page.text
    assert "1.1 km" in page.text and f'name="volunteer_id" value="{near}"' in page.text
    bad = post(web, f"/coordination/demandes/{request_id}/proposer", {"offer_count": "0"})
    assert bad.status_code == 400 and 'id="error-offer_count"' in bad.text
    offered = post(web, f"/coordination/demandes/{request_id}/proposer", {"offer_count": "50"})
    assert offered.status_code == 400
    offered = post(web, f"/coordination/demandes/{request_id}/proposer", {"offer_count": "3"})
    assert offered.status_code == 303 and offered.headers["location"].endswith("?done=offer")
    with resources.tenant_session(desk) as session:
        offers = set(
            session.scalars(select(RequestOffer.volunteer_id).where(RequestOffer.request_id == request_id))
        )
    assert near in offers
    assert load(resources, desk, HelpRequest, request_id).status == "offered"
    # Only a volunteer can be assigned; then the request is taken, and a second assignment is told kindly.
    nobody = post(web, f"/coordination/demandes/{request_id}/assigner", {"volunteer_id": str(beneficiary)})
    assert nobody.status_code == 400 and "Only volunteers can answer requests." in nobody.text
    assigned = post(web, f"/coordination/demandes/{request_id}/assigner", {"volunteer_id": str(near)})
    assert assigned.status_code == 303
    after = load(resources, desk, HelpRequest, request_id)
    assert after.status == "matched" and after.volunteer_id == near
    with resources.tenant_session(desk) as session:
        purposes = list(session.scalars(select(OutboxMessage.purpose).where(OutboxMessage.person_id == near)))
    assert purposes == ["request_assigned"]
    again = post(web, f"/coordination/demandes/{request_id}/assigner", {"volunteer_id": str(near)})
    assert again.status_code == 409 and "A volunteer has just been matched" in again.text
    assert 'class="notice"' in again.text and "error-summary" not in again.text
    # An appointment: a past date is refused next to the date, a wrong time next to the time.
    past = post(
        web, f"/coordination/demandes/{request_id}/planifier", {"date": "01/01/2020", "time": "10:00"}
    )
    assert past.status_code == 400
    assert 'id="field-date"' in past.text and "This date is in the past" in past.text
    assert 'href="#field-date"' in past.text and 'value="01/01/2020"' in past.text
    wrong = post(
        web, f"/coordination/demandes/{request_id}/planifier", {"date": "31/02/2027", "time": "25:00"}
    )
    assert wrong.status_code == 400 and 'id="error-date"' in wrong.text and 'id="error-time"' in wrong.text
    day = future_day()
    planned = post(
        web,
        f"/coordination/demandes/{request_id}/planifier",
        {"date": day.strftime("%d/%m/%Y"), "time": "14:30"},
    )
    assert planned.status_code == 303 and planned.headers["location"].endswith("?done=schedule")
    with resources.tenant_session(desk) as session:
        starts = session.scalars(
            select(Appointment.starts_at).where(Appointment.request_id == request_id)
        ).all()
    assert starts == [paris_moment(day, datetime.time(14, 30))]
    assert starts[0].astimezone(PARIS).hour == 14
    confirmed = get(web, planned.headers["location"])
    assert "The appointment is set." in confirmed.text
    # Another volunteer: a reason is needed.
    no_reason = post(web, f"/coordination/demandes/{request_id}/reattribuer", {"reassign_reason": ""})
    assert no_reason.status_code == 400 and 'id="error-reassign_reason"' in no_reason.text
    released = post(
        web, f"/coordination/demandes/{request_id}/reattribuer", {"reassign_reason": "Moved away"}
    )
    assert released.status_code == 303
    reopened = load(resources, desk, HelpRequest, request_id)
    assert reopened.status == "open" and reopened.volunteer_id is None
    # Cancel: a reason is needed, shown next to its field.
    no_reason = post(web, f"/coordination/demandes/{request_id}/annuler", {"cancel_reason": " "})
    assert no_reason.status_code == 400
    assert 'id="error-cancel_reason"' in no_reason.text and "Please say in a few words why" in no_reason.text
    cancelled = post(web, f"/coordination/demandes/{request_id}/annuler", {"cancel_reason": "In hospital"})
    assert cancelled.status_code == 303
    final = load(resources, desk, HelpRequest, request_id)
    assert final.status == "cancelled" and final.cancel_reason == "In hospital"
    history = text_of(get(web, f"/coordination/demandes/{request_id}").text)
    assert "Offered to volunteers" in history and "In hospital" in history


def test_regular_visits_are_set_paused_and_resumed(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    beneficiary = add_person(resources, desk, f"Regular {tag}", ["beneficiary"])
    volunteer = add_person(resources, desk, f"Faithful {tag}", ["volunteer"], vetting_level=1)
    request_id = add_request(
        resources,
        desk,
        beneficiary,
        details={"frequency": "weekly"},
        recurring=True,
        status="matched",
        volunteer_id=volunteer,
    )
    web = coordinator.web
    page = get(web, f"/coordination/demandes/{request_id}")
    assert 'action="/coordination/demandes/' in page.text and "/planifier-serie" in page.text
    assert 'id="series_weekday-0"' in page.text
    bad = post(
        web,
        f"/coordination/demandes/{request_id}/planifier-serie",
        {"series_weekday": "9", "series_time": "10:00", "series_interval": "1", "series_from": "01/01/2020"},
    )
    assert bad.status_code == 400 and 'id="error-series_weekday"' in bad.text
    past = post(
        web,
        f"/coordination/demandes/{request_id}/planifier-serie",
        {"series_weekday": "2", "series_time": "10:00", "series_interval": "1", "series_from": "01/01/2020"},
    )
    assert past.status_code == 400 and 'id="field-series_from"' in past.text and "in the past" in past.text
    start = future_day(1)
    done = post(
        web,
        f"/coordination/demandes/{request_id}/planifier-serie",
        {
            "series_weekday": str(start.weekday()),
            "series_time": "10:00",
            "series_interval": "1",
            "series_from": start.strftime("%d/%m/%Y"),
        },
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=series")
    with resources.tenant_session(desk) as session:
        planned = session.scalars(
            select(Appointment).where(Appointment.request_id == request_id, Appointment.status == "scheduled")
        ).all()
    assert len(planned) >= 4 and all(a.starts_at.astimezone(PARIS).hour == 10 for a in planned)
    assert post(web, f"/coordination/demandes/{request_id}/suspendre", {}).status_code == 303
    assert load(resources, desk, HelpRequest, request_id).status == "paused"
    assert post(web, f"/coordination/demandes/{request_id}/reprendre", {}).status_code == 303
    assert load(resources, desk, HelpRequest, request_id).status == "scheduled"
    assert (
        "The regular visits have resumed."
        in get(web, f"/coordination/demandes/{request_id}", done="resume").text
    )


# --- tasks and concerns --------------------------------------------------------------------------


def test_tasks_and_concerns_are_listed_and_marked_done(
    settings: Settings, coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    reporter = add_person(resources, desk, f"Reporter {tag}", ["volunteer"])
    about = add_person(resources, desk, f"Worried About {tag}", ["beneficiary"])
    request_id = add_request(resources, desk, about)
    concern_id = uuid.uuid4()

    async def report(factory: Any) -> uuid.UUID:
        async with factory(info={"tenant": desk}) as session:
            concern = Concern(
                id=concern_id,
                reporter_id=reporter,
                about_person_id=about,
                request_id=request_id,
                page="/mes-demandes",
                body=f"The door was open {tag}",
            )
            session.add(concern)
            task = await concern_reported(session, concern)
            assert (await concern_reported(session, concern)).id == task.id  # once per concern
            await session.commit()
            return task.id

    task_id = run(report, settings)
    with resources.tenant_session(desk) as session, session.begin():
        warning = CoordinatorTask(
            id=uuid.uuid4(),
            kind="warning_sign",
            person_id=about,
            request_id=request_id,
            note="fall,not_eating",
        )
        session.add(warning)
    web = coordinator.web
    tasks = get(web, "/coordination/taches")
    assert tasks.status_code == 200
    shown = text_of(tasks.text)
    assert "A concern was reported" in shown and f"The door was open {tag}" in shown
    assert "A fall, Not eating properly" in shown and f"Worried About {tag}" in shown
    assert f'href="/coordination/demandes/{request_id}"' in tasks.text
    assert post(web, f"/coordination/taches/{warning.id}/fait", {}).status_code == 303
    assert load(resources, desk, CoordinatorTask, warning.id).status == "done"
    assert "The task is marked done." in get(web, "/coordination/taches", done="1").text
    concerns = get(web, "/coordination/signalements")
    assert concerns.status_code == 200 and f"The door was open {tag}" in concerns.text
    assert f"Reporter {tag}" in concerns.text
    handled = post(web, f"/coordination/signalements/{concern_id}/traite", {})
    assert handled.status_code == 303
    assert load(resources, desk, Concern, concern_id).status == "handled"
    assert load(resources, desk, CoordinatorTask, task_id).status == "done"  # its task with it
    assert f"The door was open {tag}" not in get(web, "/coordination/signalements").text
    assert events(resources, desk, "concern_handled", subject_id=concern_id)
    assert post(web, f"/coordination/taches/{uuid.uuid4()}/fait", {}).status_code == 404


# --- vetting -------------------------------------------------------------------------------------


def test_lowering_a_volunteers_vetting_alerts_the_coordinators(
    coordinator: Signed, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    volunteer = add_person(
        resources,
        desk,
        f"Vetted {tag}",
        ["volunteer"],
        vetting_level=2,
        skills=["admin_formalities", "old_skill"],
        languages=["fr", "xx"],
    )
    beneficiary = add_person(resources, desk, f"Paperwork {tag}", ["beneficiary"])
    request_id = add_request(
        resources,
        desk,
        beneficiary,
        module="admin_help",
        details={"administration": "caf", "topic": "APL"},
        status="matched",
        volunteer_id=volunteer,
    )
    web = coordinator.web
    me = coordinator.me
    listed = get(web, "/coordination/benevoles", q=tag)
    assert listed.status_code == 200 and f"Vetted {tag}" in listed.text and "Fully vetted" in listed.text
    page = get(web, f"/coordination/benevoles/{volunteer}")
    assert page.status_code == 200
    for skill in (
        "admin_formalities",
        "errands",
        "digital_help",
        "reading_aloud",
        "mentoring",
        "walking_companion",
    ):
        assert f'id="skills-{skill}"' in page.text
    assert (
        'id="level-2" value="2" checked' in page.text
        and 'id="skills-admin_formalities" value="admin_formalities" checked' in page.text
    )
    past = post(web, f"/coordination/benevoles/{volunteer}", {"level": "2", "until": "01/01/2020"})
    assert past.status_code == 400 and 'id="error-until"' in past.text
    saved = post(
        web,
        f"/coordination/benevoles/{volunteer}",
        {
            "level": "1",
            "until": future_day(365).strftime("%d/%m/%Y"),
            "skills": ["admin_formalities", "errands"],
            "languages": ["fr", "en"],
        },
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("saved=1&alerts=1")
    person = load(resources, desk, Person, volunteer)
    assert person.vetting_level == 1 and person.vetted_until == future_day(365)
    assert set(person.skills) == {"admin_formalities", "errands", "old_skill"}
    assert person.languages == ["fr", "en", "xx"]
    with resources.tenant_session(desk) as session:
        (task,) = session.scalars(
            select(CoordinatorTask).where(
                CoordinatorTask.request_id == request_id, CoordinatorTask.kind == "vetting_lost"
            )
        ).all()
    assert task.person_id == volunteer
    (changed,) = events(resources, desk, "vetting_changed", subject_id=volunteer)
    assert changed.actor_id == me.id and changed.details["before"]["level"] == 2
    assert "coordinators have a task" in get(web, saved.headers["location"]).text
    tasks = get(web, "/coordination/taches")
    assert f'href="/coordination/benevoles/{volunteer}"' in tasks.text
    # Raising it alerts nobody.
    raised = post(web, f"/coordination/benevoles/{volunteer}", {"level": "2"})
    assert raised.status_code == 303 and raised.headers["location"].endswith("alerts=0")
    assert get(web, f"/coordination/benevoles/{beneficiary}").status_code == 404  # not a volunteer


# --- events --------------------------------------------------------------------------------------


def test_events_are_created_listed_and_cancelled_with_registrants_told(
    settings: Settings, web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    sign_in(web, resources, desk, ["partner"])
    refused = post(
        web,
        "/coordination/evenements",
        {
            "title": "",
            "place": "Salle des fêtes",
            "date": "01/01/2020",
            "start_time": "12:00",
            "end_time": "11:00",
            "capacity": "0",
        },
    )
    assert refused.status_code == 400
    for field in ("title", "date", "capacity"):
        assert f'id="error-{field}"' in refused.text, field
    assert "This date is in the past" in refused.text and 'value="Salle des fêtes"' in refused.text
    day = future_day(20)
    created = post(
        web,
        "/coordination/evenements",
        {
            "title": f"Lunch {tag}",
            "place": "Salle des fêtes",
            "date": day.strftime("%d/%m/%Y"),
            "start_time": "12:00",
            "end_time": "14:30",
            "capacity": "1",
        },
    )
    assert created.status_code == 303
    with resources.tenant_session(desk) as session:
        event = session.scalars(select(Event).where(Event.title == f"Lunch {tag}")).one()
        session.expunge(event)
    assert event.starts_at == paris_moment(day, datetime.time(12)) and event.capacity == 1
    first = add_person(resources, desk, f"First {tag}", ["beneficiary"], email=f"first-{tag}@example.org")
    second = add_person(resources, desk, f"Second {tag}", ["beneficiary"], email=f"second-{tag}@example.org")

    async def register(factory: Any) -> list[str]:
        statuses = []
        for person_id in (first, second):
            async with factory(info={"tenant": desk}) as session:
                person = await session.get(Person, person_id)
                statuses.append(await event_service.register(session, event, person))
                await session.commit()
        return statuses

    assert run(register, settings) == ["registered", "waiting"]
    listed = get(web, "/coordination/evenements")
    row = listed.text[listed.text.index(f"Lunch {tag}") :]
    assert "1 of 1" in row[:600] and "<td>1</td>" in row[:600]
    cancelled = post(web, f"/coordination/evenements/{event.id}/annuler", {})
    assert cancelled.status_code == 303
    assert load(resources, desk, Event, event.id).cancelled_at is not None
    with resources.tenant_session(desk) as session:
        told = set(
            session.scalars(select(OutboxMessage.person_id).where(OutboxMessage.purpose == "event_cancelled"))
        )
    assert {first, second} <= told
    assert f"Lunch {tag}" not in get(web, "/coordination/evenements").text


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(settings)
    yield engine
    await engine.dispose()


async def test_two_people_taking_the_last_place_at_once(engine: AsyncEngine, desk: TenantRef) -> None:
    factory = async_session_factory(engine)
    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3)
    async with factory(info={"tenant": desk}) as setup:
        event = Event(
            id=uuid.uuid4(),
            title="Workshop",
            place="Library",
            starts_at=start,
            ends_at=start + datetime.timedelta(hours=2),
            capacity=2,
        )
        people = [Person(id=uuid.uuid4(), display_name=f"P{i}", roles=["beneficiary"]) for i in range(4)]
        setup.add_all([event, *people])
        await setup.flush()
        assert await event_service.register(setup, event, people[0]) == "registered"
        await setup.commit()

    async def take(person: Person) -> str:
        async with factory(info={"tenant": desk}) as session:
            status = await event_service.register(session, event, person)
            await asyncio.sleep(0.2)  # hold the lock a while: the other must wait, then count again
            await session.commit()
            return status

    results = await asyncio.gather(take(people[1]), take(people[2]))
    assert sorted(results) == ["registered", "waiting"]
    async with factory(info={"tenant": desk}) as check:
        assert await event_service.registered_count(check, event.id) == 2
        assert await event_service.register(check, event, people[3]) == "waiting"
        await check.commit()
    waiting_first = people[1] if results[0] == "waiting" else people[2]
    registered = people[2] if waiting_first is people[1] else people[1]
    async with factory(info={"tenant": desk}) as session:
        # Registering again changes nothing; leaving frees the place for the first in line.
        assert await event_service.register(session, event, registered) == "registered"
        promoted = await event_service.cancel_registration(session, event, registered)
        await session.commit()
    assert promoted == waiting_first.id
    async with factory(info={"tenant": desk}) as session:
        assert await event_service.cancel_registration(session, event, registered) is None  # already gone
        # Coming back: the place is taken, so the end of the line.
        assert await event_service.register(session, event, registered) == "waiting"
        await session.commit()
        statuses = dict(
            (
                await session.execute(
                    select(EventRegistration.person_id, EventRegistration.status).where(
                        EventRegistration.event_id == event.id
                    )
                )
            ).all()
        )
    assert statuses == {
        people[0].id: "registered",
        waiting_first.id: "registered",
        people[3].id: "waiting",
        registered.id: "waiting",
    }


# --- service switches ----------------------------------------------------------------------------


def test_the_administrator_switches_services_on_and_off(
    web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    sign_in(web, resources, desk, ["tenant_admin"])
    page = get(web, "/coordination/modules")
    assert page.status_code == 200 and 'id="modules-visits" value="visits"' in page.text
    assert 'id="modules-reading" value="reading" aria-describedby="modules-reading-hint" checked' in page.text
    try:
        unknown = post(web, "/coordination/modules", {"modules": ["visits", "nope"]})
        assert unknown.status_code == 400 and 'id="error-modules"' in unknown.text
        saved = post(web, "/coordination/modules", {"modules": ["visits", "walks"]})
        assert saved.status_code == 303
        with resources.tenant_session(desk) as session:
            assert session.scalar(select(Setting.value).where(Setting.key == ENABLED_SETTING)) == [
                "visits",
                "walks",
            ]
        intake = get(web, "/coordination/appel")
        assert 'id="module-visits"' in intake.text and 'id="module-reading"' not in intake.text
        assert events(resources, desk, "modules_changed")
        assert "The services are saved." in get(web, "/coordination/modules", saved="1").text
    finally:
        with resources.tenant_session(desk) as session, session.begin():
            session.execute(delete(Setting).where(Setting.key == ENABLED_SETTING))
        forget_tenant_settings(resources, desk)  # written behind the pages' back: the cached copy goes


# --- tenants and roles ---------------------------------------------------------------------------


def test_another_tenants_ids_find_nothing(
    web: Client, resources: PlatformResources, desk: TenantRef, other_tenant: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    secret_name = f"Beta Secret {tag}"
    theirs = add_person(resources, other_tenant, secret_name, ["beneficiary"], phone="06 66 66 66 66")
    their_volunteer = add_person(resources, other_tenant, f"Beta Volunteer {tag}", ["volunteer"])
    their_request = add_request(resources, other_tenant, theirs)
    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5)
    their_event, their_task, their_concern = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with resources.tenant_session(other_tenant) as session, session.begin():
        session.add(
            Event(
                id=their_event,
                title=f"Beta event {tag}",
                place="Beta",
                starts_at=start,
                ends_at=start + datetime.timedelta(hours=1),
                capacity=5,
            )
        )
        session.add(CoordinatorTask(id=their_task, kind="call_person", person_id=theirs))
        session.add(Concern(id=their_concern, body=f"Beta concern {tag}"))
    sign_in(web, resources, desk, ["coordinator", "tenant_admin"])
    for path in (f"/coordination/demandes/{their_request}", f"/coordination/benevoles/{their_volunteer}"):
        response = get(web, path)
        assert response.status_code == 404, path
        assert secret_name not in response.text
    for path, data in (
        (f"/coordination/demandes/{their_request}/annuler", {"cancel_reason": "x"}),
        (f"/coordination/demandes/{their_request}/assigner", {"volunteer_id": str(their_volunteer)}),
        (f"/coordination/benevoles/{their_volunteer}", {"level": "2"}),
        (f"/coordination/evenements/{their_event}/annuler", {}),
        (f"/coordination/taches/{their_task}/fait", {}),
        (f"/coordination/signalements/{their_concern}/traite", {}),
    ):
        assert post(web, path, data).status_code == 404, path
    # Their people are not found by the intake search, nor can they be chosen.
    search = post(web, "/coordination/appel", {"q": secret_name, "action": "search"})
    assert f'value="{theirs}"' not in search.text and "Nobody found" in search.text
    chosen = post(
        web,
        "/coordination/appel",
        {"beneficiary": str(theirs), "module": "visits", "shown_module": "visits", "frequency": "once"},
    )
    assert chosen.status_code == 400 and 'id="error-beneficiary"' in chosen.text
    for page in (
        "/coordination/demandes",
        "/coordination/taches",
        "/coordination/signalements",
        "/coordination/evenements",
    ):
        listed = get(web, page)
        assert listed.status_code == 200
        for secret in (secret_name, f"Beta event {tag}", f"Beta concern {tag}", str(their_request)):
            assert secret not in listed.text, (page, secret)
    assert load(resources, other_tenant, Event, their_event).cancelled_at is None
    assert load(resources, other_tenant, HelpRequest, their_request).status == "open"
    assert load(resources, other_tenant, CoordinatorTask, their_task).status == "open"


PAGES = (
    "/coordination/appel",
    "/coordination/demandes",
    "/coordination/taches",
    "/coordination/signalements",
    "/coordination/benevoles",
    "/coordination/evenements",
    "/coordination/modules",
)


@pytest.mark.parametrize(
    ("roles", "open_pages"),
    [
        (["volunteer"], set()),
        (["partner"], {"/coordination/appel", "/coordination/evenements"}),
        (["coordinator"], set(PAGES) - {"/coordination/modules"}),
    ],
)
def test_each_role_opens_only_its_pages(
    web: Client, resources: PlatformResources, desk: TenantRef, roles: list[str], open_pages: set[str]
) -> None:
    sign_in(web, resources, desk, roles)
    for page in PAGES:
        expected = 200 if page in open_pages else 403
        assert get(web, page).status_code == expected, page
    if not open_pages:
        assert post(web, "/coordination/appel", {"action": "save"}).status_code == 403
        assert post(web, "/coordination/evenements", {}).status_code == 403
    shown = get(web, PAGES[0] if open_pages else "/compte").text
    nav = shown[shown.index('aria-label="Coordination"') :].split("</nav>")[0] if open_pages else ""
    for page in PAGES:
        assert (f'href="{page}"' in nav) == (page in open_pages), page
