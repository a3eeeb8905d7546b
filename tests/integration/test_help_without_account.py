"""Issue 11, item 7. « I need help » signed out explains the three ways to ask (an account in one step,
a relative, the town hall's phone) instead of a bare sign-in form; a signed-in resident's « I want to
help » adds the volunteer role to their own account, audited, then opens the volunteer's space."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts.models import AuditEvent, Person
from bippop.app import create_app
from bippop.collectivities import find
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import (
    BASE_DOMAIN,
    DEFAULT_PASSWORD,
    csrf_token,
    free_commune_code,
    host,
    make_person,
    make_tenant,
)

EN = {"bippop_lang": "en"}


@pytest.fixture(scope="module")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def web(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies=EN) as client:
        yield client


def commune(settings: Settings, slug: str, branding: dict[str, str]) -> TenantRef:
    code = free_commune_code(settings)
    found = find("commune", code)
    assert found is not None
    return make_tenant(settings, slug, found.name, code=code, branding=branding)


@pytest.fixture(scope="module")
def with_hours(settings: Settings) -> TenantRef:
    hours = {"contact_phone": "+33 3 44 40 72 00", "contact_hours": "Mon–Fri 9 am–12 pm\nSat 9–11 am"}
    return commune(settings, f"hrs-{uuid.uuid4().hex[:6]}", hours)


@pytest.fixture(scope="module")
def no_phone(settings: Settings) -> TenantRef:
    return commune(settings, f"nop-{uuid.uuid4().hex[:6]}", {"contact_email": "mairie@example.org"})


def sign_in(web: TestClient[Litestar], email: str, slug: str = "alpha", next_url: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_token(web, slug)
    data = {"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token}
    if next_url:
        data["next_url"] = next_url
    response = web.post("/connexion", data=data, headers=host(slug), follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def post(web: TestClient[Litestar], path: str, data: dict[str, str], slug: str = "alpha"):  # type: ignore[no-untyped-def]
    return web.post(
        path,
        data={**data, "_csrf_token": web.cookies.get("csrftoken") or ""},
        headers=host(slug),
        follow_redirects=False,
    )


def roles_of(resources: PlatformResources, tenant: TenantRef, person_id: uuid.UUID) -> list[str]:
    with resources.sessions()(info={"tenant": tenant}) as session:
        person = session.get(Person, person_id)
        assert person is not None
        return list(person.roles)


# « I need help » ------------------------------------------------------------------------------------


def test_signed_out_visitor_learns_the_three_ways_to_ask(
    web: TestClient[Litestar], tenant: TenantRef
) -> None:
    page = web.get("/demander", headers=host("alpha"), follow_redirects=False)
    assert page.status_code == 200
    assert 'type="password"' not in page.text  # not a bare sign-in form
    assert (
        'href="/inscription?role=beneficiary"' in page.text and "Create an account in one step" in page.text
    )
    assert 'href="/inscription?role=relative"' in page.text and "Ask a relative" in page.text
    assert "Phone the town hall" in page.text
    assert 'href="tel:0300000001"' in page.text and "03 00 00 00 01" in page.text  # alpha's own number
    assert 'href="/connexion?next_url=%2Fdemander"' in page.text


def test_the_phone_way_gives_the_tenants_number_and_opening_hours(
    web: TestClient[Litestar], with_hours: TenantRef, no_phone: TenantRef
) -> None:
    page = web.get("/demander", headers=host(with_hours.slug))
    # Written +33 3 44 40 72 00, kept the French way; dialled as digits.
    assert 'href="tel:0344407200"' in page.text and "03 44 40 72 00" in page.text
    assert "Mon–Fri 9 am–12 pm<br>Sat 9–11 am" in page.text
    assert "0300000001" not in page.text  # never another tenant's number
    bare = web.get("/demander", headers=host(no_phone.slug))
    assert bare.status_code == 200 and "tel:" not in bare.text
    assert 'href="/contact"' in bare.text


def test_sign_up_link_preselects_the_role(web: TestClient[Litestar], tenant: TenantRef) -> None:
    for role in ("beneficiary", "relative"):
        form = web.get(f"/inscription?role={role}", headers=host("alpha"))
        assert f'id="role-{role}" value="{role}" checked' in form.text


def test_i_already_have_an_account_comes_back_to_asking(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    assert sign_in(web, email, next_url="/demander").headers["location"] == "/demander"
    chooser = web.get("/demander", headers=host("alpha"))
    assert chooser.status_code == 200 and 'href="/demander/visits"' in chooser.text
    assert "Phone the town hall" not in chooser.text


def test_signed_in_without_the_right_to_ask_is_still_refused(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _, email, _ = make_person(resources, tenant, ["partner"])
    sign_in(web, email)
    assert web.get("/demander", headers=host("alpha"), follow_redirects=False).status_code == 403


# « I want to help » ---------------------------------------------------------------------------------


def test_home_sends_each_visitor_to_the_right_place_to_help(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    assert 'href="/inscription?role=volunteer"' in web.get("/", headers=host("alpha")).text
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    sign_in(web, email)
    home = web.get("/", headers=host("alpha")).text
    assert 'href="/devenir-benevole"' in home and "/inscription?role=volunteer" not in home


def test_resident_becomes_a_volunteer_audited_and_lands_on_the_volunteer_space(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    person_id, email, _ = make_person(resources, tenant, ["beneficiary"])
    sign_in(web, email)
    page = web.get("/devenir-benevole", headers=host("alpha"))
    assert page.status_code == 200
    assert "What volunteering involves" in page.text and "criminal record" in page.text
    assert web.get("/benevole", headers=host("alpha"), follow_redirects=False).status_code == 403
    # Without the CSRF token: refused, nothing changes.
    forged = web.post(
        "/devenir-benevole", data={"accept": "yes"}, headers=host("alpha"), follow_redirects=False
    )
    assert forged.status_code == 403
    assert roles_of(resources, tenant, person_id) == ["beneficiary"]
    # Without saying yes to the checks: the message next to the box.
    refused = post(web, "/devenir-benevole", {})
    assert refused.status_code == 400
    assert 'id="error-accept"' in refused.text and 'aria-describedby="error-accept"' in refused.text
    done = post(web, "/devenir-benevole", {"accept": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/benevole"
    assert web.get("/benevole", headers=host("alpha")).status_code == 200  # the same session, new role
    assert sorted(roles_of(resources, tenant, person_id)) == ["beneficiary", "volunteer"]
    with resources.sessions()(info={"tenant": tenant}) as session:
        me = session.get(Person, person_id)
        assert me is not None and me.vetting_level == 0  # as after a volunteer's sign-up
        events = list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.subject_id == person_id, AuditEvent.action == "role_changed"
                )
            )
        )
    assert len(events) == 1 and events[0].actor_id == person_id
    assert events[0].details["after"] == ["volunteer", "beneficiary"] or set(events[0].details["after"]) == {
        "volunteer",
        "beneficiary",
    }
    assert events[0].details["method"] == "became_volunteer"
    # Already a volunteer: the page sends them on, a second confirmation changes nothing.
    again = web.get("/devenir-benevole", headers=host("alpha"), follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/benevole"
    assert post(web, "/devenir-benevole", {"accept": "yes"}).status_code == 303
    with resources.sessions()(info={"tenant": tenant}) as session:
        count = len(
            list(
                session.scalars(
                    select(AuditEvent).where(
                        AuditEvent.subject_id == person_id, AuditEvent.action == "role_changed"
                    )
                )
            )
        )
    assert count == 1


def test_nobody_can_turn_someone_else_into_a_volunteer(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    coordinator_id, _, _ = make_person(resources, tenant, ["coordinator"])
    person_id, email, _ = make_person(resources, tenant, ["relative"])
    sign_in(web, email)
    for field in ("person_id", "person", "id"):
        assert (
            post(web, "/devenir-benevole", {"accept": "yes", field: str(coordinator_id)}).status_code == 303
        )
    assert roles_of(resources, tenant, coordinator_id) == ["coordinator"]
    assert sorted(roles_of(resources, tenant, person_id)) == ["relative", "volunteer"]


def test_signed_out_or_from_another_tenant_nothing_happens(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    page = web.get("/devenir-benevole", headers=host("alpha"), follow_redirects=False)
    assert page.status_code in (302, 303, 401)  # a browser (Accept: text/html) is sent to sign in
    browser = web.get(
        "/devenir-benevole", headers={**host("alpha"), "Accept": "text/html"}, follow_redirects=False
    )
    assert browser.headers.get("location", "").startswith("/connexion")
    person_id, email, _ = make_person(resources, tenant, ["beneficiary"])
    sign_in(web, email)
    # Alpha's session means nothing on Bétaville's portal.
    elsewhere = post(web, "/devenir-benevole", {"accept": "yes"}, slug="beta")
    assert elsewhere.status_code in (302, 303, 401, 403)
    assert roles_of(resources, tenant, person_id) == ["beneficiary"]
