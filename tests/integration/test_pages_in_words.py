"""Defects of issue #10 item 7 seen while using the pages: one call task per new caller without
internet, no English word on French pages, the language switch after a POST error, GETs of action
URLs, and numbers and durations written the locale's way."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop import clock
from bippop.accounts.models import Person
from bippop.aid.models import Appointment, CoordinatorTask, HelpRequest
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.resolution import SiteKind, serves
from support import BASE_DOMAIN, csrf_token, host, log_in, make_person, make_tenant

SLUG = "paroles"
HTML = {"Accept": "text/html"}
Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    return make_tenant(settings, SLUG, "Parolesville")


@contextlib.contextmanager
def browser(settings: Settings, lang: str = "fr") -> Iterator[Client]:
    with TestClient(
        create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": lang}
    ) as client:
        yield client


@dataclasses.dataclass(frozen=True)
class Signed:
    web: Client
    person_id: uuid.UUID


@pytest.fixture(scope="module")
def coordinator(settings: Settings, resources: PlatformResources, town: TenantRef) -> Iterator[Signed]:
    with browser(settings) as client:
        person_id, email, secret = make_person(resources, town, ["coordinator"], totp=True, name="Cora")
        log_in(client, SLUG, email, secret)
        yield Signed(client, person_id)


def get(web: Client, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return web.get(
        path, params=params or None, headers={**host(SLUG), **HTML, **(headers or {})}, follow_redirects=False
    )


def post(web: Client, path: str, data: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, SLUG)
    return web.post(
        path,
        data={**data, "_csrf_token": token},
        headers={**host(SLUG), **HTML, **(headers or {})},
        follow_redirects=False,
    )


def text_of(page: str) -> str:
    import html

    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# --- one call task per caller --------------------------------------------------------------------


def add_person(
    resources: PlatformResources, tenant: TenantRef, name: str, roles: list[str], **values: Any
) -> uuid.UUID:
    person_id = uuid.uuid4()
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(Person(id=person_id, display_name=name, roles=roles, **values))
    return person_id


def open_call_tasks(
    resources: PlatformResources, tenant: TenantRef, person_id: uuid.UUID
) -> list[str | None]:
    with resources.tenant_session(tenant) as session:
        return list(
            session.scalars(
                select(CoordinatorTask.note).where(
                    CoordinatorTask.person_id == person_id,
                    CoordinatorTask.kind == "call_person",
                    CoordinatorTask.status == "open",
                )
            )
        )


def test_a_new_caller_without_internet_gets_one_call_task(
    coordinator: Signed, resources: PlatformResources, town: TenantRef
) -> None:
    name = f"Lucienne {uuid.uuid4().hex[:6]}"
    volunteer = add_person(
        resources,
        town,
        "Valentin",
        ["volunteer"],
        email=f"v-{uuid.uuid4().hex[:6]}@example.org",
        vetting_level=2,
    )
    done = post(
        coordinator.web,
        "/coordination/appel",
        {
            "beneficiary": "new",
            "new_name": name,
            "new_phone": "03 44 12 34 56",
            "new_postcode": "60200",
            "new_channel": "coordinator",
            "module": "visits",
            "shown_module": "visits",
            "frequency": "once",
            "action": "save",
        },
    )
    assert done.status_code == 303, done.text
    with resources.tenant_session(town) as session:
        person_id = session.scalar(select(Person.id).where(Person.display_name == name))
    assert person_id is not None and len(open_call_tasks(resources, town, person_id)) == 1
    # The coordinator finds a volunteer at once: one call tells the person all the news.
    request_page = done.headers["location"].split("?")[0]
    assigned = post(coordinator.web, f"{request_page}/assigner", {"volunteer_id": str(volunteer)})
    assert assigned.status_code == 303, assigned.text
    assert len(open_call_tasks(resources, town, person_id)) == 1


# --- GETs of action URLs, and the language switch after a refused form ---------------------------


@pytest.fixture(scope="module")
def everyone(settings: Settings, resources: PlatformResources, town: TenantRef) -> Iterator[Signed]:
    """Someone holding every role, so that each action's page is theirs to see."""
    roles = ["coordinator", "tenant_admin", "volunteer", "beneficiary"]
    with browser(settings) as client:
        person_id, email, secret = make_person(resources, town, roles, totp=True, name="Alix")
        log_in(client, SLUG, email, secret)
        yield Signed(client, person_id)


def their_request_and_visit(
    resources: PlatformResources, tenant: TenantRef, person_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """A request of theirs that they also help with, and its past visit."""
    request_id, appointment_id = uuid.uuid4(), uuid.uuid4()
    yesterday = clock.now() - datetime.timedelta(days=1)
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(
            HelpRequest(
                id=request_id,
                module="visits",
                beneficiary_id=person_id,
                volunteer_id=person_id,
                created_as="beneficiary",
                details={"frequency": "once"},
                status="scheduled",
            )
        )
        session.flush()
        session.add(
            Appointment(
                id=appointment_id,
                request_id=request_id,
                volunteer_id=person_id,
                starts_at=yesterday,
                ends_at=yesterday + datetime.timedelta(hours=1),
            )
        )
    return request_id, appointment_id


def an_event(resources: PlatformResources, tenant: TenantRef) -> uuid.UUID:
    from bippop_modules.events.models import Event  # the events module's own table

    event_id, starts = uuid.uuid4(), clock.now() + datetime.timedelta(days=7)
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(
            Event(
                id=event_id,
                title="Loto",
                place="Salle des fêtes",
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=2),
                capacity=20,
            )
        )
    return event_id


def post_only_routes(app: Litestar, kind: SiteKind = "tenant") -> list[str]:
    """The action paths answering only POST on a site of ``kind``."""
    found = []
    for route in app.routes:
        methods = set(getattr(route, "methods", ())) - {"OPTIONS", "HEAD"}
        handlers = [h for h in getattr(route, "route_handlers", ()) if "POST" in h.http_methods]
        if methods == {"POST"} and all(serves(handler.opt, kind) for handler in handlers):
            found.append(route.path)
    return found


def test_a_get_of_another_sites_action_is_not_found(everyone: Signed) -> None:
    """The wizard's actions are the public site's: on a tenant's host they are nobody's page."""
    web = everyone.web
    assert "/creation/compte/code/renvoyer" in post_only_routes(web.app, "public")
    assert "/creation/compte/code/renvoyer" not in post_only_routes(web.app)
    assert get(web, "/creation/compte/code/renvoyer").status_code == 404


def test_every_get_of_an_action_url_goes_to_its_page(
    everyone: Signed, resources: PlatformResources, town: TenantRef
) -> None:
    web = everyone.web
    request_id, appointment_id = their_request_and_visit(resources, town, everyone.person_id)
    values = {
        "request_id": str(request_id),
        "appointment_id": str(appointment_id),
        "person_id": str(everyone.person_id),
        "step": "assigner",
        "event_id": str(an_event(resources, town)),
    }
    routes = post_only_routes(web.app)
    assert "/coordination/taches/{task_id:uuid}/fait" in routes and len(routes) >= 15
    for template in routes:
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), template)
        answer = get(web, path)
        assert answer.status_code == 303, (template, answer.status_code, answer.text[:200])
        page = answer.headers["location"]
        assert page.startswith("/") and page != path, template
        if template == "/deconnexion":
            continue  # its page is the home page; GET of it must not sign anyone out either
        shown = get(web, page)
        assert shown.status_code == 200, (template, page, shown.status_code)
        assert shown.headers["content-type"].startswith("text/html"), (template, page)
    assert get(web, f"/coordination/demandes/{request_id}/assigner").headers["location"] == (
        f"/coordination/demandes/{request_id}"
    )
    assert get(web, f"/benevole/rendez-vous/{appointment_id}/absent").headers["location"] == (
        f"/benevole/rendez-vous/{appointment_id}/compte-rendu"
    )
    assert get(web, f"/coordination/taches/{uuid.uuid4()}/fait").headers["location"] == "/coordination/taches"
    # An action that does not exist has no page.
    assert get(web, f"/coordination/demandes/{request_id}/nope").status_code == 404
    # Still signed in: the GET of /deconnexion did nothing.
    assert get(web, "/coordination/taches").status_code == 200


def test_switching_language_after_a_refused_form_comes_back_to_its_page(
    everyone: Signed, resources: PlatformResources, town: TenantRef
) -> None:
    web = everyone.web
    request_id, _appointment = their_request_and_visit(resources, town, everyone.person_id)
    refused = post(web, f"/coordination/demandes/{request_id}/assigner", {"volunteer_id": ""})
    assert refused.status_code == 400
    link = re.search(r'href="(/langue\?lang=en&amp;next_url=[^"]+)"', refused.text)
    assert link, refused.text[:500]
    switch = get(web, link.group(1).replace("&amp;", "&"))
    assert switch.status_code == 303
    assert switch.headers["location"] == f"/coordination/demandes/{request_id}"
    shown = get(web, switch.headers["location"])
    assert shown.status_code == 200 and 'lang="en"' in shown.text
    # Even a language link made before this change, naming the action URL, lands on the page.
    old = get(web, "/langue", lang="fr", next_url=f"/coordination/demandes/{request_id}/assigner")
    assert get(web, old.headers["location"]).headers["location"] == f"/coordination/demandes/{request_id}"
    get(web, "/langue", lang="fr", next_url="/")


# --- no English word on French pages ----------------------------------------------------------------


def english_codes() -> set[str]:
    """Every code the lifecycle stores for a status, an appointment, a reason or a task: none may be
    shown as it is. Built from the code's own lists, so a new status needs its label."""
    from bippop.aid import lifecycle, models

    codes = {
        *models.REQUEST_STATUSES,
        *models.APPOINTMENT_STATUSES,
        *models.CREATED_AS,
        *models.MOODS,
        *models.WARNING_SIGNS,
        *models.TASK_KINDS,
        lifecycle.PAUSED,
    }
    # The notes the lifecycle writes in the history, in its own words.
    return codes | {"volunteer", "volunteers", "recurring", "level"}


def test_every_code_has_its_words() -> None:
    from bippop.aid import lifecycle, models
    from bippop.aid.coordination import labels
    from bippop.aid.portal import common as portal
    from bippop.web import i18n

    token = i18n.current_locale.set("fr")
    try:
        tables = [
            (models.REQUEST_STATUSES, labels.status_labels()),
            (models.APPOINTMENT_STATUSES, labels.appointment_labels()),
            (models.CREATED_AS, labels.created_as_labels()),
            (models.MOODS, labels.mood_labels()),
            (models.WARNING_SIGNS, labels.warning_labels()),
            (models.TASK_KINDS, {k: v[0] for k, v in labels.task_labels().items()}),
            ((lifecycle.PAUSED,), labels.cancel_reason_labels()),
            (tuple(s for s in models.APPOINTMENT_STATUSES if s != "scheduled"), portal.appointment_labels()),
            (models.REQUEST_STATUSES, {s: portal.status_label(s) for s in models.REQUEST_STATUSES}),
        ]
        for codes, words in tables:
            for code in codes:
                assert code in words and words[code] and words[code] != code, (code, words)
        assert labels.history_note("3 volunteers") == "Proposée à 3 bénévoles"
        assert labels.history_note("1 volunteers") == "Proposée à 1 bénévole"
        assert labels.history_note("Déménagement") == "Déménagement"  # what a person typed stays
    finally:
        i18n.current_locale.reset(token)


def a_request_in_each_status(
    resources: PlatformResources, tenant: TenantRef, person_id: uuid.UUID
) -> dict[str, uuid.UUID]:
    """One request per status, theirs and helped by them, with the history notes the lifecycle writes,
    an appointment in each state (one cancelled by a pause) and a task of every kind."""
    from bippop.aid import lifecycle, models
    from bippop.aid.models import RequestEvent

    made: dict[str, uuid.UUID] = {}
    now = clock.now()
    with resources.tenant_session(tenant) as session, session.begin():
        for status in models.REQUEST_STATUSES:
            request_id = uuid.uuid4()
            made[status] = request_id
            session.add(
                HelpRequest(
                    id=request_id,
                    module="visits",
                    beneficiary_id=person_id,
                    volunteer_id=person_id,
                    created_as="beneficiary",
                    details={"frequency": "weekly"},
                    status=status,
                    recurring=True,
                )
            )
            session.flush()
            for note, to_status in (
                ("3 volunteers", "offered"),
                ("recurring", "scheduled"),
                ("level 1 < 2", "open"),
            ):
                session.add(
                    RequestEvent(
                        id=uuid.uuid4(),
                        request_id=request_id,
                        to_status=to_status,
                        from_status=status,
                        note=note,
                    )
                )
            for hours, state in enumerate(models.APPOINTMENT_STATUSES, start=1):
                starts = now + datetime.timedelta(hours=hours if state == "scheduled" else -hours)
                session.add(
                    Appointment(
                        id=uuid.uuid4(),
                        request_id=request_id,
                        volunteer_id=person_id,
                        starts_at=starts,
                        ends_at=starts + datetime.timedelta(hours=1),
                        status=state,
                        cancel_reason=lifecycle.PAUSED if state == "cancelled" else None,
                    )
                )
        for kind in models.TASK_KINDS:
            note = {"warning_sign": "fall,low_mood", "call_person": "no_show"}.get(kind)
            session.add(
                CoordinatorTask(
                    id=uuid.uuid4(), kind=kind, person_id=person_id, request_id=made["open"], note=note
                )
            )
    return made


def english_words_in(page: str) -> set[str]:
    words = set(re.findall(r"\w+", text_of(page)))  # \w: accented letters too (concernées)
    return words & english_codes()


def test_french_pages_show_no_english_word(
    everyone: Signed, resources: PlatformResources, town: TenantRef
) -> None:
    web = everyone.web
    made = a_request_in_each_status(resources, town, everyone.person_id)
    pages = ["/coordination/taches", "/coordination/impact", "/mes-demandes", "/benevole"]
    pages += [f"/coordination/demandes?status={status}" for status in made]
    for request_id in made.values():
        pages += [
            f"/coordination/demandes/{request_id}",
            f"/mes-demandes/{request_id}",
            f"/benevole/demandes/{request_id}",
        ]
    for path in pages:
        page = get(web, path)
        assert page.status_code == 200, (path, page.status_code)
        assert 'lang="fr"' in page.text, path
        assert not english_words_in(page.text), (path, english_words_in(page.text))
    shown = text_of(get(web, f"/coordination/demandes/{made['scheduled']}").text)
    assert "Proposée à 3 bénévoles" in shown and "les visites régulières sont en pause" in shown
    assert "a eu lieu" in text_of(get(web, f"/benevole/demandes/{made['scheduled']}").text)


# --- numbers written the page's way ---------------------------------------------------------------


def test_the_impact_figures_are_written_the_pages_way(
    everyone: Signed, resources: PlatformResources, town: TenantRef
) -> None:
    with resources.tenant_session(town) as session, session.begin():
        for amount, minutes in (("10.25", 60), ("2", 30)):
            session.add(
                HelpRequest(
                    id=uuid.uuid4(),
                    module="errands",
                    beneficiary_id=everyone.person_id,
                    created_as="beneficiary",
                    status="done",
                    details={"amount_reimbursed": amount},
                    duration_minutes=minutes,
                )
            )

    def figures(page: str) -> dict[str, str]:
        """The errands section's figures (each service has its own « time given »)."""
        section = page.split('aria-labelledby="impact-errands"', 1)[1].split("</section>", 1)[0]
        return dict(re.findall(r"<tr><th scope=\"row\">([^<]+)</th><td>([^<]+)</td></tr>", section))

    french = figures(get(everyone.web, "/coordination/impact", jours="30").text)
    assert french["Montant remboursé aux bénévoles (€)"] == "12,25"
    assert french["Temps donné"] == "1 h 30"
    english = figures(get(everyone.web, "/coordination/impact", jours="30", lang="en").text)
    assert english["Amount paid back to volunteers (€)"] == "12.25"
    assert english["Errands run"] == "2" and english["Time given"] == "1 h 30 min"
    get(everyone.web, "/langue", lang="fr", next_url="/")


def test_the_page_of_an_action_stays_on_this_site(everyone: Signed) -> None:
    from bippop.web.action_pages import page_of_path

    task = uuid.uuid4()
    for path in (f"//coordination/taches/{task}/fait", f"/coordination//taches/{task}/fait/"):
        assert page_of_path(everyone.web.app, path) == "/coordination/taches", path
    assert page_of_path(everyone.web.app, "//evil.example/x") == "/"
    answer = get(everyone.web, f"//coordination/taches/{task}/fait")
    assert answer.status_code in (303, 404)
    assert answer.status_code == 404 or answer.headers["location"] == "/coordination/taches"
