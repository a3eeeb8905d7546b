"""The resident portal and the volunteer's dashboard, through HTTP: ask (for oneself or under a mandate),
follow, pop (one winner), contact protection, appointments, visit reports, concerns, events."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from bippop.accounts.models import Mandate
from bippop.aid.models import Appointment, Concern, CoordinatorTask, HelpRequest, VisitReport
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, app_with_clock, csrf_token, host, make_person

EN = {"bippop_lang": "en"}


@pytest.fixture(scope="module")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


def client(app: Litestar) -> TestClient[Litestar]:
    return TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies=EN)


@pytest.fixture
def web(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with client(app) as c:
        yield c


def sign_in(web: TestClient[Litestar], email: str, slug: str = "alpha") -> str:
    token = csrf_token(web, slug)
    response = web.post(
        "/connexion",
        data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token},
        headers=host(slug),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return token


def post(web: TestClient[Litestar], path: str, data: dict[str, object], slug: str = "alpha"):  # type: ignore[no-untyped-def]
    return web.post(
        path,
        data={**data, "_csrf_token": web.cookies.get("csrftoken")},
        headers=host(slug),
        follow_redirects=False,
    )


def person(
    resources: PlatformResources, tenant: TenantRef, roles: list[str], **values: object
) -> tuple[uuid.UUID, str]:
    person_id, email, _ = make_person(resources, tenant, roles)
    if values:
        from bippop.accounts.models import Person

        with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
            session.execute(update(Person).where(Person.id == person_id).values(**values))
    return person_id, email


NEAR = {"latitude": 49.417, "longitude": 2.826}
VOLUNTEER = {
    "vetting_level": 2,
    "skills": ["reading_aloud", "walking_companion"],
    "latitude": 49.42,
    "longitude": 2.83,
}


def test_home_offers_the_services_and_the_two_big_actions(
    web: TestClient[Litestar], tenant: TenantRef
) -> None:
    page = web.get("/", headers=host("alpha"))
    assert page.status_code == 200
    assert 'href="/demander"' in page.text and "I need help" in page.text and "I want to help" in page.text
    for slug in ("visits", "reading", "admin_help", "it_help", "walks", "errands", "events", "senior_junior"):
        assert f'href="/demander/{slug}"' in page.text


def test_beneficiary_asks_for_a_visit_and_follows_it(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email = person(resources, tenant, ["beneficiary"], **NEAR)
    sign_in(web, email)
    form = web.get("/demander/visits", headers=host("alpha"))
    assert form.status_code == 200 and "Who is this request for?" not in form.text
    bad = post(web, "/demander/visits", {"interests": "cartes"})
    assert bad.status_code == 400 and 'id="error-frequency"' in bad.text and "cartes" in bad.text
    done = post(
        web,
        "/demander/visits",
        {
            "frequency": "weekly",
            "interests": "cartes",
            "recurring": "on",
            "when": ["1-afternoon", "3-morning"],
        },
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?created=1")
    detail = web.get(done.headers["location"], headers=host("alpha"))
    assert "Your request has been recorded" in detail.text
    assert "Waiting for a volunteer" in detail.text or "Proposed to volunteers" in detail.text
    listing = web.get("/mes-demandes", headers=host("alpha"))
    assert "Friendly visits" in listing.text
    request_id = uuid.UUID(done.headers["location"].split("/")[2].split("?")[0])
    with resources.sessions()(info={"tenant": tenant}) as session:
        created = session.get(HelpRequest, request_id)
        assert created is not None and created.recurring and created.created_as == "beneficiary"
        assert {"weekday": 1, "start_minute": 840, "end_minute": 1080} in created.preferred_windows
    cancel = post(web, f"/mes-demandes/{request_id}/annuler", {"reason": ""})
    assert cancel.status_code == 400 and 'id="error-reason"' in cancel.text
    assert post(web, f"/mes-demandes/{request_id}/annuler", {"reason": "Ma fille est là"}).status_code == 303


def test_relative_asks_on_behalf_of_a_parent_only_under_a_mandate(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    parent_id, _ = person(resources, tenant, ["beneficiary"], **NEAR)
    relative_id, email = person(resources, tenant, ["relative"])
    sign_in(web, email)
    page = web.get("/demander/walks", headers=host("alpha"))
    assert "not recorded as acting for anyone" in page.text
    refused = post(
        web, "/demander/walks", {"mobility_aid": "cane", "distance": "short", "for_whom": str(parent_id)}
    )
    assert refused.status_code == 400 and 'id="error-for_whom"' in refused.text
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.add(
            Mandate(id=uuid.uuid4(), relative_id=relative_id, beneficiary_id=parent_id, consent="written")
        )
    done = post(
        web, "/demander/walks", {"mobility_aid": "cane", "distance": "short", "for_whom": str(parent_id)}
    )
    assert done.status_code == 303
    with resources.sessions()(info={"tenant": tenant}) as session:
        made = session.scalars(select(HelpRequest).where(HelpRequest.beneficiary_id == parent_id)).one()
        assert (
            made.created_as == "relative" and made.created_by == relative_id and made.mandate_id is not None
        )


def _open_request(
    resources: PlatformResources, tenant: TenantRef, module: str = "reading"
) -> tuple[uuid.UUID, uuid.UUID]:
    beneficiary_id, _ = person(
        resources, tenant, ["beneficiary"], phone="06 11 22 33 44", address="3 rue des Lilas", **NEAR
    )
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        request = HelpRequest(
            id=uuid.uuid4(),
            module=module,
            beneficiary_id=beneficiary_id,
            created_by=beneficiary_id,
            created_as="beneficiary",
            status="open",
            details={"where": "home", "tastes": ["news"]},
            duration_minutes=45,
            **NEAR,
        )
        session.add(request)
    return request.id, beneficiary_id


def test_volunteer_sees_no_contact_until_confirmed_then_pops_schedules_and_reports(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    request_id, _ = _open_request(resources, tenant)
    volunteer_id, email = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    sign_in(web, email)
    dashboard = web.get("/benevole", headers=host("alpha"))
    assert f"/benevole/demandes/{request_id}" in dashboard.text
    before = web.get(f"/benevole/demandes/{request_id}", headers=host("alpha"))
    assert before.status_code == 200
    assert "06 11 22 33 44" not in before.text and "rue des Lilas" not in before.text
    assert post(web, f"/benevole/demandes/{request_id}/pop", {}).status_code == 303
    after = web.get(f"/benevole/demandes/{request_id}", headers=host("alpha"))
    assert "06 11 22 33 44" in after.text and "3 rue des Lilas" in after.text
    past = post(web, f"/benevole/demandes/{request_id}/rendez-vous", {"day": "01/01/2020", "time": "10:00"})
    assert past.status_code == 400 and "in the past" in past.text
    garbled = post(web, f"/benevole/demandes/{request_id}/rendez-vous", {"day": "demain", "time": "10h"})
    assert garbled.status_code == 400 and 'id="error-day"' in garbled.text
    soon = (datetime.date.today() + datetime.timedelta(days=3)).strftime("%d/%m/%Y")
    assert (
        post(web, f"/benevole/demandes/{request_id}/rendez-vous", {"day": soon, "time": "14:30"}).status_code
        == 303
    )
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        appointment = session.scalars(select(Appointment).where(Appointment.request_id == request_id)).one()
        appointment_id = appointment.id
        # The visit happened yesterday (time moves on).
        appointment.starts_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        appointment.ends_at = appointment.starts_at + datetime.timedelta(minutes=45)
    assert (
        f"/benevole/rendez-vous/{appointment_id}/compte-rendu"
        in web.get("/benevole", headers=host("alpha")).text
    )
    missing = post(web, f"/benevole/rendez-vous/{appointment_id}/compte-rendu", {"observations": "RAS"})
    assert missing.status_code == 400 and 'id="error-mood"' in missing.text and "RAS" in missing.text
    sent = post(
        web,
        f"/benevole/rendez-vous/{appointment_id}/compte-rendu",
        {"mood": "low", "observations": "Ne mange plus beaucoup", "warning_signs": ["not_eating"]},
    )
    assert sent.status_code == 303
    with resources.sessions()(info={"tenant": tenant}) as session:
        report = session.scalars(
            select(VisitReport).where(VisitReport.appointment_id == appointment_id)
        ).one()
        assert report.warning_signs == ["not_eating"] and report.author_id == volunteer_id
        assert session.get(HelpRequest, request_id).status == "reported"  # type: ignore[union-attr]
        task = session.scalars(select(CoordinatorTask).where(CoordinatorTask.request_id == request_id)).one()
        assert task.kind == "warning_sign"


def test_two_volunteers_pop_the_same_request_one_is_told_kindly(
    app: Litestar, settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    request_id, _ = _open_request(resources, tenant)
    _, first = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    _, second = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    with client(app) as a:
        sign_in(a, first)
        assert post(a, f"/benevole/demandes/{request_id}/pop", {}).status_code == 303
    with client(create_app(settings)) as b:
        sign_in(b, second)
        late = post(b, f"/benevole/demandes/{request_id}/pop", {})
        assert late.status_code in (404, 409)  # already someone else's: no longer shown to them


def test_unvetted_volunteer_is_told_why(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    request_id, _ = _open_request(resources, tenant)
    _, email = person(resources, tenant, ["volunteer"], vetting_level=0, skills=["reading_aloud"], **NEAR)
    sign_in(web, email)
    refused = post(web, f"/benevole/demandes/{request_id}/pop", {})
    assert refused.status_code == 400 and "checked by the commune" in refused.text


def test_availability_is_saved_and_bad_distance_explained(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    sign_in(web, email)
    bad = post(web, "/benevole/disponibilites", {"when": ["0-morning"], "max_distance_km": "loin"})
    assert (
        bad.status_code == 400
        and "between 1 and 50" in bad.text
        and 'value="0-morning" id="when-0-morning" aria-label' in bad.text.replace("\n", "")
    )
    assert (
        post(
            web, "/benevole/disponibilites", {"when": ["0-morning", "4-afternoon"], "max_distance_km": "8"}
        ).status_code
        == 303
    )
    page = web.get("/benevole/disponibilites", headers=host("alpha"))
    assert re.search(r'value="4-afternoon"[^>]*checked', page.text)


def test_concern_from_any_page(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    sign_in(web, email)
    home = web.get("/", headers=host("alpha"))
    assert 'href="/signaler?depuis=/"' in home.text or 'href="/signaler?depuis=%2F"' in home.text
    empty = post(web, "/signaler", {"body": "", "page": "/"})
    assert empty.status_code == 400 and 'id="error-body"' in empty.text
    sent = post(web, "/signaler", {"body": "Mme X. ne répond plus au téléphone", "page": "/benevole"})
    assert sent.status_code == 200 and "sent to the coordinators" in sent.text
    with resources.sessions()(info={"tenant": tenant}) as session:
        concern = session.scalars(select(Concern).where(Concern.body.like("Mme X.%"))).one()
        assert concern.page == "/benevole"


def test_other_tenants_requests_are_not_found(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    beta_request, _ = _open_request(resources, other_tenant)
    _, email = person(resources, tenant, ["volunteer", "beneficiary"], **VOLUNTEER)
    sign_in(web, email)
    for path in (f"/benevole/demandes/{beta_request}", f"/mes-demandes/{beta_request}"):
        assert web.get(path, headers=host("alpha")).status_code == 404
    assert post(web, f"/benevole/demandes/{beta_request}/pop", {}).status_code == 404
    with resources.sessions()(info={"tenant": other_tenant}) as session:
        assert session.get(HelpRequest, beta_request).status == "open"  # type: ignore[union-attr]


def test_request_form_half_filled_when_the_session_ends_is_kept(
    settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    app, clock = app_with_clock(settings)
    _, email = person(resources, tenant, ["beneficiary"], **NEAR)
    with client(app) as web:
        sign_in(web, email)
        assert web.get("/demander/it_help", headers=host("alpha")).status_code == 200
        clock.now += 2 * 3600  # a person helped: one hour without activity
        sent = web.post(
            "/demander/it_help",
            data={
                "device": "tablet",
                "problem": "Voir mes photos",
                "where": "home",
                "_csrf_token": web.cookies.get("csrftoken"),
            },
            headers={**host("alpha"), "Accept": "text/html"},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and "expired=1" in sent.headers["location"]
        page = web.get(sent.headers["location"], headers=host("alpha"))
        next_url = re.search(r'name="next_url" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        back = web.post(
            "/connexion",
            data={
                "email": email,
                "password": DEFAULT_PASSWORD,
                "next_url": next_url,
                "_csrf_token": web.cookies.get("csrftoken"),
            },
            headers=host("alpha"),
            follow_redirects=False,
        )
        assert back.headers["location"].startswith("/demander/it_help?brouillon=")
        form = web.get(back.headers["location"], headers=host("alpha"))
        assert "Voir mes photos" in form.text
        assert re.search(r'value="tablet"[^>]*checked', form.text)


def test_a_new_request_is_offered_to_the_best_volunteers_or_the_coordinators_are_told(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    volunteer_id, _ = person(resources, tenant, ["volunteer"], vetting_level=2, skills=["mentoring"], **NEAR)
    _, email = person(resources, tenant, ["beneficiary"], **NEAR)
    sign_in(web, email)
    offered = post(web, "/demander/senior_junior", {"direction": "give", "topic": "gardening"})
    assert offered.status_code == 303
    request_id = uuid.UUID(offered.headers["location"].split("/")[2].split("?")[0])
    from bippop.aid.models import RequestOffer

    with resources.sessions()(info={"tenant": tenant}) as session:
        assert session.get(HelpRequest, request_id).status == "offered"  # type: ignore[union-attr]
        assert volunteer_id in set(
            session.scalars(select(RequestOffer.volunteer_id).where(RequestOffer.request_id == request_id))
        )
    # Nobody has the vetting formalities need in a far-away place: the coordinators get a task.
    _, far = person(resources, tenant, ["beneficiary"], latitude=43.3, longitude=5.4)
    web.cookies.clear()
    web.cookies.update(EN)
    sign_in(web, far)
    alone = post(web, "/demander/admin_help", {"administration": "caf", "topic": "Aide au logement"})
    request_id = uuid.UUID(alone.headers["location"].split("/")[2].split("?")[0])
    with resources.sessions()(info={"tenant": tenant}) as session:
        assert session.get(HelpRequest, request_id).status == "open"  # type: ignore[union-attr]
        task = session.scalars(select(CoordinatorTask).where(CoordinatorTask.request_id == request_id)).one()
        assert task.kind == "unmatched"


def test_nobody_at_home_twice_asks_the_town_hall_to_phone(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    request_id, beneficiary_id = _open_request(resources, tenant)
    volunteer_id, email = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    now = datetime.datetime.now(datetime.UTC)
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.execute(
            update(HelpRequest)
            .where(HelpRequest.id == request_id)
            .values(status="scheduled", volunteer_id=volunteer_id, recurring=True)
        )
        ids = []
        for days in (8, 1):
            appointment = Appointment(
                id=uuid.uuid4(),
                request_id=request_id,
                volunteer_id=volunteer_id,
                starts_at=now - datetime.timedelta(days=days),
                ends_at=now - datetime.timedelta(days=days) + datetime.timedelta(hours=1),
                status="scheduled",
            )
            session.add(appointment)
            ids.append(appointment.id)
    sign_in(web, email)
    form = web.get(f"/benevole/rendez-vous/{ids[0]}/compte-rendu", headers=host("alpha"))
    assert "Nobody was at home" in form.text
    for appointment_id in ids:
        assert post(web, f"/benevole/rendez-vous/{appointment_id}/absent", {}).status_code == 303
    with resources.sessions()(info={"tenant": tenant}) as session:
        statuses = set(
            session.scalars(select(Appointment.status).where(Appointment.request_id == request_id))
        )
        assert statuses == {"no_show"}
        task = session.scalars(select(CoordinatorTask).where(CoordinatorTask.request_id == request_id)).one()
        assert task.kind == "call_person" and task.person_id == beneficiary_id


def test_requests_of_a_module_that_disappeared_are_hidden_not_broken(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    beneficiary_id, email = person(resources, tenant, ["beneficiary"], **NEAR)
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        gone = HelpRequest(
            id=uuid.uuid4(),
            module="uninstalled_plugin",
            beneficiary_id=beneficiary_id,
            created_as="beneficiary",
            status="open",
            details={"x": "Texte du module disparu"},
        )
        kept = HelpRequest(
            id=uuid.uuid4(),
            module="visits",
            beneficiary_id=beneficiary_id,
            created_as="beneficiary",
            status="open",
            details={"frequency": "once"},
        )
        session.add_all([gone, kept])
    sign_in(web, email)
    listing = web.get("/mes-demandes", headers=host("alpha"))
    assert listing.status_code == 200
    assert f"/mes-demandes/{kept.id}" in listing.text and str(gone.id) not in listing.text
    assert web.get(f"/mes-demandes/{gone.id}", headers=host("alpha")).status_code == 404
    volunteer_page = web.get("/", headers=host("alpha"))
    assert volunteer_page.status_code == 200 and "uninstalled_plugin" not in volunteer_page.text


def test_impact_page_shows_each_modules_statistics(
    web: TestClient[Litestar], settings: Settings, resources: PlatformResources
) -> None:
    from support import log_in, make_tenant

    town = make_tenant(settings, "impactville", "Impactville")
    beneficiary_id, _ = person(resources, town, ["beneficiary"], **NEAR)
    with resources.sessions()(info={"tenant": town}) as session, session.begin():
        for status in ("done", "reported", "open"):
            session.add(
                HelpRequest(
                    id=uuid.uuid4(),
                    module="errands",
                    beneficiary_id=beneficiary_id,
                    created_as="beneficiary",
                    status=status,
                    details={"amount_reimbursed": "1234.50"},
                )
            )
    _, email, secret = make_person(resources, town, ["coordinator"], totp=True)
    log_in(web, "impactville", email, secret)
    page = web.get("/coordination/impact?jours=30", headers=host("impactville"))
    assert page.status_code == 200
    assert "Errands" in page.text and "Errands run" in page.text and "Friendly visits" in page.text
    figures = re.findall(r"<tr><th scope=\"row\">([^<]+)</th><td>([^<]+)</td></tr>", page.text)
    assert ("Errands run", "2") in figures and ("Amount paid back to volunteers (€)", "3703.5") in figures


def test_an_unconfirmed_volunteer_sees_only_their_own_messages(
    app: Litestar, settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    request_id, _ = _open_request(resources, tenant)
    _, first = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    _, second = person(resources, tenant, ["volunteer"], **VOLUNTEER)
    with client(app) as a:
        sign_in(a, first)
        assert (
            post(
                a, f"/benevole/demandes/{request_id}/message", {"body": "Code de la porte : 4521B"}
            ).status_code
            == 303
        )
        assert "4521B" in a.get(f"/benevole/demandes/{request_id}", headers=host("alpha")).text
    with client(create_app(settings)) as b:
        sign_in(b, second)
        page = b.get(f"/benevole/demandes/{request_id}", headers=host("alpha"))
        assert page.status_code == 200 and "4521B" not in page.text
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.execute(update(HelpRequest).where(HelpRequest.id == request_id).values(status="cancelled"))
    with client(create_app(settings)) as c:
        sign_in(c, second)
        assert c.get(f"/benevole/demandes/{request_id}", headers=host("alpha")).status_code == 404


def test_a_message_sent_after_the_session_ended_comes_back_only_in_that_browser(
    settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    app, clock = app_with_clock(settings)
    beneficiary_id, email = person(resources, tenant, ["beneficiary"], **NEAR)
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        mine = HelpRequest(
            id=uuid.uuid4(),
            module="visits",
            beneficiary_id=beneficiary_id,
            created_as="beneficiary",
            status="open",
            details={"frequency": "once"},
        )
        session.add(mine)
    page_url = f"http://alpha.{BASE_DOMAIN}/mes-demandes/{mine.id}"
    with client(app) as web:
        sign_in(web, email)
        clock.now += 2 * 3600
        sent = web.post(
            f"/mes-demandes/{mine.id}/message",
            data={"body": "Merci de sonner deux fois", "_csrf_token": web.cookies.get("csrftoken")},
            headers={**host("alpha"), "Accept": "text/html", "Referer": page_url},
            follow_redirects=False,
        )
        assert (
            sent.status_code == 303
            and "%2Fmes-demandes%2F" in sent.headers["location"]
            and "brouillon" in sent.headers["location"]
        )
        page = web.get(sent.headers["location"], headers=host("alpha"))
        next_url = re.search(r'name="next_url" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert next_url.startswith(f"/mes-demandes/{mine.id}?brouillon=")
        with client(create_app(settings)) as other:  # another person at the same computer, another browser
            sign_in(other, email)
            assert "Merci de sonner deux fois" not in other.get(next_url, headers=host("alpha")).text
        back = web.post(
            "/connexion",
            data={
                "email": email,
                "password": DEFAULT_PASSWORD,
                "next_url": next_url,
                "_csrf_token": web.cookies.get("csrftoken"),
            },
            headers=host("alpha"),
            follow_redirects=False,
        )
        assert back.status_code == 303
        assert "Merci de sonner deux fois" in web.get(back.headers["location"], headers=host("alpha")).text


def test_the_organiser_sees_who_registered_and_who_waits(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    from bippop_modules.events.models import Event, EventRegistration
    from support import log_in

    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5)
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        event = Event(
            id=uuid.uuid4(),
            title="Loto",
            place="Salle des fêtes",
            starts_at=start,
            ends_at=start + datetime.timedelta(hours=2),
            capacity=1,
        )
        session.add(event)
    names = []
    for name in ("Lucienne Bernard", "Roger Petit"):
        person_id, _, _ = make_person(resources, tenant, ["beneficiary"], name=name)
        names.append(name)
        with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
            status = "registered" if name == "Lucienne Bernard" else "waiting"
            session.add(
                EventRegistration(id=uuid.uuid4(), event_id=event.id, person_id=person_id, status=status)
            )
    with resources.sessions()(info={"tenant": other_tenant}) as session, session.begin():
        theirs = Event(
            id=uuid.uuid4(),
            title="Bêta-loto",
            place="Ailleurs",
            starts_at=start,
            ends_at=start + datetime.timedelta(hours=2),
            capacity=5,
        )
        session.add(theirs)
    _, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    log_in(web, "alpha", email, secret)
    page = web.get(f"/coordination/evenements/{event.id}", headers=host("alpha"))
    assert page.status_code == 200
    cut = page.text.index("Waiting list")
    assert "Lucienne Bernard" in page.text[:cut] and "Roger Petit" in page.text[cut:]
    assert "Roger Petit" not in page.text[:cut]
    assert web.get(f"/coordination/evenements/{theirs.id}", headers=host("alpha")).status_code == 404


def test_leaving_a_full_event_gives_the_place_to_the_first_waiting_who_is_told(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    # The portal's unregister goes through aid.services.events.leave_event (issue 10): the place and the
    # message to the person promoted are both kept, or neither.
    from bippop.outbox.models import OutboxMessage
    from bippop_modules.events.models import Event, EventRegistration

    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5)
    leaving_id, leaving_email = person(resources, tenant, ["beneficiary"])
    waiting_id, _ = person(resources, tenant, ["beneficiary"])
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        event = Event(
            id=uuid.uuid4(),
            title="Thé dansant",
            place="Salle des fêtes",
            starts_at=start,
            ends_at=start + datetime.timedelta(hours=2),
            capacity=1,
        )
        session.add(event)
        session.flush()
        for person_id, status in ((leaving_id, "registered"), (waiting_id, "waiting")):
            session.add(
                EventRegistration(id=uuid.uuid4(), event_id=event.id, person_id=person_id, status=status)
            )
    sign_in(web, leaving_email)
    response = post(web, f"/evenements/{event.id}/desinscription", {})
    assert response.status_code == 303
    with resources.sessions()(info={"tenant": tenant}) as session:
        statuses = dict(
            session.execute(
                select(EventRegistration.person_id, EventRegistration.status).where(
                    EventRegistration.event_id == event.id
                )
            ).all()
        )
        told = session.scalars(
            select(OutboxMessage.purpose).where(OutboxMessage.person_id == waiting_id)
        ).all()
    assert statuses == {leaving_id: "cancelled", waiting_id: "registered"}
    assert "event_place_freed" in told
