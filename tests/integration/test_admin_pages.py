"""The staff's account pages: people and roles, invitations (the whole loop), mandates, the audit log,
and ids of another tenant used on this tenant's host."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import html
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import any_, func, literal, select, update

from bippop.accounts import audit
from bippop.accounts.mandates import may_act_for
from bippop.accounts.models import AccountToken, AuditEvent, Mandate, Person
from bippop.app import create_app
from bippop.config import Settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import (
    BASE_DOMAIN,
    csrf_token,
    host,
    log_in,
    make_person,
    make_tenant,
)

SLUG = "gestion-pages"
EN = {"bippop_lang": "en"}
HTML = {"Accept": "text/html"}
Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def desk(settings: Settings) -> TenantRef:
    """This module's own tenant: the last-administrator rule and the rate limits need one nobody shares."""
    return make_tenant(settings, SLUG, "Gestionville")


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
    web: Client,
    resources: PlatformResources,
    tenant: TenantRef,
    roles: list[str],
    *,
    slug: str = SLUG,
    name: str = "Staff",
) -> Someone:
    staff = bool({"coordinator", "tenant_admin"} & set(roles))
    person_id, email, secret = make_person(resources, tenant, roles, totp=staff, name=name)
    log_in(web, slug, email, secret)
    return Someone(person_id, email)


def get(web: Client, path: str, slug: str = SLUG, **params: str) -> Any:
    return web.get(path, params=params, headers={**host(slug), **HTML}, follow_redirects=False)


def post(web: Client, path: str, data: dict[str, Any], slug: str = SLUG) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, slug)
    return web.post(
        path, data={**data, "_csrf_token": token}, headers={**host(slug), **HTML}, follow_redirects=False
    )


def add_people(
    resources: PlatformResources, tenant: TenantRef, people: list[tuple[str, list[str], str | None]]
) -> list[uuid.UUID]:
    """People without a password (quicker than make_person), as (name, roles, e-mail)."""
    ids = [uuid.uuid4() for _ in people]
    with resources.tenant_session(tenant) as session, session.begin():
        for person_id, (name, roles, email) in zip(ids, people, strict=True):
            session.add(Person(id=person_id, display_name=name, email=email, roles=roles, locale="en"))
    return ids


def roles_of(resources: PlatformResources, tenant: TenantRef, person_id: uuid.UUID) -> list[str]:
    with resources.tenant_session(tenant) as session:
        return list(session.scalar(select(Person.roles).where(Person.id == person_id)) or [])


def events(resources: PlatformResources, tenant: TenantRef, action: str, **filters: Any) -> list[AuditEvent]:
    with resources.tenant_session(tenant) as session:
        return list(audit.search(session, action=action, **filters))


def last_link(resources: PlatformResources, tenant: TenantRef, recipient: str) -> str:
    with resources.tenant_session(tenant) as session:
        message = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.created_at.desc())
        ).first()
    assert message is not None, f"no mail to {recipient}"
    found = re.search(r"/lien/([A-Za-z0-9_\-]+)", message.body)
    assert found, message.body
    return found.group(1)


def may_act(settings: Settings, tenant: TenantRef, relative_id: uuid.UUID, beneficiary_id: uuid.UUID) -> bool:
    async def check() -> bool:
        engine = make_async_engine(settings)
        try:
            async with async_session_factory(engine)(info={"tenant": tenant}) as session:
                return await may_act_for(session, relative_id, beneficiary_id)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def rows(page: str) -> list[str]:
    """The row headers of the page's table (names, or times in the log)."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r'<th scope="row">(.*?)</th>', page, re.S)
    ]


# --- people and roles ----------------------------------------------------------------------------


def test_people_are_listed_filtered_searched_and_paged(
    web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    add_people(
        resources,
        desk,
        [(f"Zz {tag} {i:02d}", ["volunteer"], f"v{i}-{tag}@example.org") for i in range(52)]
        + [
            (f"Zz {tag} partner", ["partner"], f"p-{tag}@example.org"),
            (f"Pct 50%{tag}", ["beneficiary"], None),
            (f"Pct 500{tag}", ["beneficiary"], None),
            (f"Und a_{tag}", ["relative"], None),
            (f"Und ab{tag}", ["relative"], None),
        ],
    )
    sign_in(web, resources, desk, ["coordinator"])
    first = get(web, "/gestion/personnes", q=f"zz {tag}")
    assert first.status_code == 200
    assert rows(first.text) == [f"Zz {tag} {i:02d}" for i in range(50)]
    assert "53 people" in first.text and "Page 1 of 2" in first.text
    assert "<caption>" in first.text and 'scope="col"' in first.text and 'role="search"' in first.text
    assert "Volunteer" in first.text and f"v0-{tag}@example.org" in first.text
    second = get(web, "/gestion/personnes", q=f"zz {tag}", page="2")
    assert rows(second.text) == [f"Zz {tag} 50", f"Zz {tag} 51", f"Zz {tag} partner"]
    assert "Previous page" in second.text and "Next page" not in second.text
    past_the_last = get(web, "/gestion/personnes", q=f"zz {tag}", page="3")  # counted on its own
    assert rows(past_the_last.text) == [] and "53 people" in past_the_last.text
    partners = get(web, "/gestion/personnes", q=f"zz {tag}", role="partner")
    assert rows(partners.text) == [f"Zz {tag} partner"]
    assert 'value="partner" selected' in partners.text
    by_email = get(web, "/gestion/personnes", q=f"P-{tag}@EXAMPLE")
    assert rows(by_email.text) == [f"Zz {tag} partner"]
    # % and _ are searched for as themselves, not as wildcards.
    assert rows(get(web, "/gestion/personnes", q=f"50%{tag}").text) == [f"Pct 50%{tag}"]
    assert rows(get(web, "/gestion/personnes", q=f"a_{tag}").text) == [f"Und a_{tag}"]
    nobody = get(web, "/gestion/personnes", q=f"nobody {tag}")
    assert rows(nobody.text) == [] and "Nobody matches these filters." in nobody.text
    # A coordinator sees a person's page, without the form that changes roles.
    (partner_id,) = add_people(resources, desk, [(f"Solo {tag}", ["partner"], None)])
    page = get(web, f"/gestion/personnes/{partner_id}")
    assert page.status_code == 200 and f"Solo {tag}" in page.text
    assert "/roles" not in page.text
    assert post(web, f"/gestion/personnes/{partner_id}/roles", {"roles": ["volunteer"]}).status_code == 403
    assert roles_of(resources, desk, partner_id) == ["partner"]


def test_changing_roles_is_audited_and_signs_the_person_out(
    settings: Settings, resources: PlatformResources, desk: TenantRef
) -> None:
    with browser(settings) as admin_web, browser(settings) as their_web:
        admin = sign_in(admin_web, resources, desk, ["tenant_admin"], name="Ada Admin")
        volunteer = sign_in(their_web, resources, desk, ["volunteer"], name="Victor Volunteer")
        assert get(their_web, "/compte/mandats").status_code == 403
        page = get(admin_web, f"/gestion/personnes/{volunteer.id}")
        assert page.status_code == 200
        assert f'action="/gestion/personnes/{volunteer.id}/roles"' in page.text
        assert (
            'name="_csrf_token"' in page.text
            and 'id="roles-volunteer" value="volunteer" checked' in page.text
        )
        unknown = post(
            admin_web, f"/gestion/personnes/{volunteer.id}/roles", {"roles": ["volunteer", "root"]}
        )
        assert unknown.status_code == 400
        assert 'id="error-roles"' in unknown.text and "Choose roles from the list." in unknown.text
        assert 'class="error-summary"' in unknown.text and 'href="#field-roles"' in unknown.text
        empty = post(admin_web, f"/gestion/personnes/{volunteer.id}/roles", {})
        assert empty.status_code == 400 and "Choose at least one role." in empty.text
        assert roles_of(resources, desk, volunteer.id) == ["volunteer"]

        done = post(
            admin_web, f"/gestion/personnes/{volunteer.id}/roles", {"roles": ["volunteer", "relative"]}
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/gestion/personnes/{volunteer.id}?saved=1"
        assert roles_of(resources, desk, volunteer.id) == ["relative", "volunteer"]
        saved = get(admin_web, f"/gestion/personnes/{volunteer.id}", saved="1")
        assert "The roles are saved" in saved.text
        (event,) = events(resources, desk, "role_changed", subject_id=volunteer.id)
        assert event.actor_id == admin.id and event.subject_type == "person"
        assert event.details == {"before": ["volunteer"], "after": ["relative", "volunteer"]}
        # Signed out everywhere; signing in again brings the new rights.
        expired = get(their_web, "/compte")
        assert expired.status_code == 303 and expired.headers["location"].startswith("/connexion")
        log_in(their_web, SLUG, volunteer.email)
        assert get(their_web, "/compte/mandats").status_code == 200
        # Saving the same roles changes nothing and records nothing.
        same = post(
            admin_web, f"/gestion/personnes/{volunteer.id}/roles", {"roles": ["relative", "volunteer"]}
        )
        assert same.status_code == 303
        assert len(events(resources, desk, "role_changed", subject_id=volunteer.id)) == 1
        assert get(their_web, "/compte/mandats").status_code == 200


def test_the_last_administrator_keeps_the_role(
    web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    admin = sign_in(web, resources, desk, ["tenant_admin"])
    (second,) = add_people(resources, desk, [("Second Admin", ["tenant_admin"], None)])
    assert post(web, f"/gestion/personnes/{second}/roles", {"roles": ["coordinator"]}).status_code == 303
    assert roles_of(resources, desk, second) == ["coordinator"]
    # Earlier tests made other administrators: disable them, so that this one is the last.
    with resources.tenant_session(desk) as session, session.begin():
        session.execute(
            update(Person)
            .where(Person.id != admin.id, literal("tenant_admin") == any_(Person.roles))
            .values(disabled_at=func.now())
        )
    refused = post(web, f"/gestion/personnes/{admin.id}/roles", {"roles": ["coordinator"]})
    assert refused.status_code == 400
    assert 'id="error-roles"' in refused.text and "last administrator" in refused.text
    assert 'href="#field-roles"' in refused.text
    assert 'id="roles-coordinator" value="coordinator" checked' in refused.text  # what was chosen stays
    assert roles_of(resources, desk, admin.id) == ["tenant_admin"]
    assert events(resources, desk, "role_changed", subject_id=admin.id) == []
    # Adding a role while keeping the administrator's is fine; it signs the administrator out too.
    kept = post(web, f"/gestion/personnes/{admin.id}/roles", {"roles": ["coordinator", "tenant_admin"]})
    assert kept.status_code == 303 and kept.headers["location"] == "/connexion"
    assert roles_of(resources, desk, admin.id) == ["coordinator", "tenant_admin"]
    assert get(web, "/gestion/personnes").status_code == 303


def test_unknown_people_are_not_found(web: Client, resources: PlatformResources, desk: TenantRef) -> None:
    sign_in(web, resources, desk, ["tenant_admin"])
    missing = uuid.uuid4()
    assert get(web, f"/gestion/personnes/{missing}").status_code == 404
    assert post(web, f"/gestion/personnes/{missing}/roles", {"roles": ["volunteer"]}).status_code == 404
    assert get(web, "/gestion/personnes/not-an-id").status_code == 404


# --- invitations ---------------------------------------------------------------------------------


def test_invite_accept_and_sign_in_with_the_invited_roles(
    settings: Settings, web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    coordinator = sign_in(web, resources, desk, ["coordinator"], name="Coline Coordinator")
    form = get(web, "/gestion/invitations")
    assert form.status_code == 200
    assert 'name="_csrf_token"' in form.text and 'for="field-email"' in form.text
    assert 'id="roles-volunteer"' in form.text and 'id="roles-relative"' in form.text
    assert 'id="roles-coordinator"' not in form.text and 'id="roles-tenant_admin"' not in form.text
    email = f"newcomer-{uuid.uuid4().hex[:8]}@example.org"
    bad = post(web, "/gestion/invitations", {"email": "not an address", "roles": ["volunteer"]})
    assert (
        bad.status_code == 400
        and 'id="error-email"' in bad.text
        and "Enter an e-mail address like" in bad.text
    )
    too_high = post(web, "/gestion/invitations", {"email": email, "roles": ["coordinator"]})
    assert too_high.status_code == 400 and 'id="error-roles"' in too_high.text
    assert f'value="{email}"' in too_high.text  # what was typed stays
    sent = post(web, "/gestion/invitations", {"email": email.upper(), "roles": ["volunteer"]})
    assert sent.status_code == 303 and sent.headers["location"] == "/gestion/invitations?sent=1"
    listing = get(web, "/gestion/invitations", sent="1")
    assert "The invitation is on its way" in listing.text
    assert email in rows(listing.text) and "Coline Coordinator" in listing.text
    (event,) = events(resources, desk, "invitation_sent", actor_id=coordinator.id)
    assert event.subject_type == "invitation" and event.details["roles"] == ["volunteer"]
    assert email not in json.dumps(event.details)

    token = last_link(resources, desk, email)
    assert token not in listing.text  # the page never shows the link itself
    with browser(settings) as newcomer:
        landing = newcomer.get(f"/lien/{token}", headers=host(SLUG))
        assert landing.status_code == 200 and "Accept the invitation" in landing.text
        password = "lanterne rivière biscuit 7"
        accepted = post(newcomer, f"/lien/{token}", {"display_name": "Nina Newcomer", "password": password})
        assert accepted.status_code == 303, accepted.text
        newcomer.cookies.clear()
        newcomer.cookies.update(EN)
        log_in(newcomer, SLUG, email, password=password)
        account = get(newcomer, "/compte")
        assert account.status_code == 200 and "Nina Newcomer" in account.text and "Volunteer" in account.text
    with resources.tenant_session(desk) as session:
        person = session.scalar(select(Person).where(Person.email == email))
        assert person is not None and person.roles == ["volunteer"] and person.email_verified_at is not None
    assert email not in get(web, "/gestion/invitations").text  # no longer waiting


def test_administrators_invite_staff_and_sending_is_rate_limited(
    web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    sign_in(web, resources, desk, ["tenant_admin"])
    form = get(web, "/gestion/invitations")
    assert 'id="roles-coordinator"' in form.text and 'id="roles-tenant_admin"' in form.text
    email = f"staff-{uuid.uuid4().hex[:8]}@example.org"
    for _ in range(5):
        assert (
            post(web, "/gestion/invitations", {"email": email, "roles": ["coordinator"]}).status_code == 303
        )
    refused = post(web, "/gestion/invitations", {"email": email, "roles": ["coordinator"]})
    assert refused.status_code == 429 and "Too many attempts" in refused.text
    # Only the latest invitation to an address works.
    with resources.tenant_session(desk) as session:
        live = session.scalars(
            select(AccountToken).where(AccountToken.email == email, AccountToken.used_at.is_(None))
        ).all()
    assert len(live) == 1 and live[0].roles == ["coordinator"]
    assert rows(get(web, "/gestion/invitations").text).count(email) == 1


# --- mandates ------------------------------------------------------------------------------------


def test_mandates_are_recorded_seen_by_both_and_revoked(
    settings: Settings, web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    coordinator = sign_in(web, resources, desk, ["coordinator"])
    relative_id, relative_email, _ = make_person(resources, desk, ["relative"], name=f"Rel {tag}")
    beneficiary_id, beneficiary_email, _ = make_person(resources, desk, ["beneficiary"], name=f"Ben {tag}")
    (volunteer_id,) = add_people(resources, desk, [(f"Vol {tag}", ["volunteer"], None)])
    page = get(web, "/gestion/mandats")
    assert page.status_code == 200
    assert f'<option value="{relative_id}">Rel {tag} ({relative_email})</option>' in page.text
    assert f'<option value="{beneficiary_id}">Ben {tag} ({beneficiary_email})</option>' in page.text
    assert f'value="{volunteer_id}"' not in page.text
    assert 'for="field-relative_id"' in page.text and 'type="radio" name="consent"' in page.text

    chosen = {"relative_id": str(relative_id), "beneficiary_id": str(beneficiary_id)}
    no_consent = post(web, "/gestion/mandats", chosen)
    assert no_consent.status_code == 400 and 'id="error-consent"' in no_consent.text
    assert f'value="{relative_id}" selected' in no_consent.text
    not_a_relative = post(
        web, "/gestion/mandats", {**chosen, "relative_id": str(volunteer_id), "consent": "written"}
    )
    assert not_a_relative.status_code == 400 and 'id="error-relative_id"' in not_a_relative.text
    assert not may_act(settings, desk, relative_id, beneficiary_id)

    done = post(web, "/gestion/mandats", {**chosen, "consent": "oral"})
    assert done.status_code == 303 and done.headers["location"] == "/gestion/mandats?done=recorded"
    assert may_act(settings, desk, relative_id, beneficiary_id)
    assert not may_act(settings, desk, beneficiary_id, relative_id)
    twice = post(web, "/gestion/mandats", {**chosen, "consent": "written"})
    assert twice.status_code == 400 and "can already act for this person" in twice.text
    listing = get(web, "/gestion/mandats", done="recorded")
    assert "The mandate is recorded." in listing.text
    assert f"Rel {tag}" in rows(listing.text) and "Oral consent" in listing.text
    with resources.tenant_session(desk) as session:
        (mandate,) = session.scalars(select(Mandate).where(Mandate.relative_id == relative_id)).all()
    (recorded,) = events(resources, desk, "mandate_recorded", subject_id=mandate.id)
    assert recorded.actor_id == coordinator.id and recorded.details == {
        "relative_id": str(relative_id),
        "beneficiary_id": str(beneficiary_id),
        "consent": "oral",
    }

    with browser(settings) as relative_web, browser(settings) as beneficiary_web:
        log_in(relative_web, SLUG, relative_email)
        log_in(beneficiary_web, SLUG, beneficiary_email)
        mine = get(relative_web, "/compte/mandats")
        assert mine.status_code == 200 and rows(mine.text) == [f"Ben {tag}"]
        theirs = get(beneficiary_web, "/compte/mandats")
        assert theirs.status_code == 200 and rows(theirs.text) == [f"Rel {tag}"]

        revoked = post(web, f"/gestion/mandats/{mandate.id}/revoquer", {})
        assert revoked.status_code == 303 and revoked.headers["location"] == "/gestion/mandats?done=revoked"
        assert not may_act(settings, desk, relative_id, beneficiary_id)
        assert f"Rel {tag}" not in rows(get(web, "/gestion/mandats").text)
        assert rows(get(relative_web, "/compte/mandats").text) == []
        assert "Nobody may act for you." in get(beneficiary_web, "/compte/mandats").text
    assert post(web, f"/gestion/mandats/{mandate.id}/revoquer", {}).status_code == 303
    (event,) = events(resources, desk, "mandate_revoked", subject_id=mandate.id)
    assert event.actor_id == coordinator.id
    assert post(web, f"/gestion/mandats/{uuid.uuid4()}/revoquer", {}).status_code == 404


# --- the audit log -------------------------------------------------------------------------------


def test_the_audit_log_is_filtered_paged_and_its_browsing_recorded(
    web: Client, resources: PlatformResources, desk: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    admin = sign_in(web, resources, desk, ["tenant_admin"], name=f"Auditor {tag}")
    actor_id, actor_email, _ = make_person(resources, desk, ["volunteer"], name=f"Busy {tag}")
    # 60 events: 30 at the very same instant (the pages must neither skip nor repeat them), at 00:30 in
    # Paris on 11 March 2024, which is still 10 March in UTC; 30 more a minute apart before that.
    instant = datetime.datetime(2024, 3, 10, 23, 30, tzinfo=datetime.UTC)
    with resources.tenant_session(desk) as session, session.begin():
        for i in range(60):
            session.add(
                AuditEvent(
                    id=uuid.uuid4(),
                    occurred_at=instant if i < 30 else instant - datetime.timedelta(minutes=i),
                    actor_id=actor_id,
                    action="sign_in",
                    subject_type="person",
                    subject_id=actor_id,
                    ip_address="203.0.113.9",
                    request_id=f"req-{tag}-{i:02d}",
                    details={"method": "password"},
                )
            )
    request_ids = re.compile(rf"req-{tag}-\d\d")
    first = get(web, "/gestion/journal", person=actor_email)
    assert first.status_code == 200
    assert "<caption>" in first.text and 'scope="col"' in first.text
    assert "Signed in" in first.text and f"Busy {tag}" in first.text and "203.0.113.9" in first.text
    assert "11/03/2024 00:30:00" in first.text  # Paris time
    first_ids = request_ids.findall(first.text)
    assert len(first_ids) == len(set(first_ids)) == 50
    older = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', first.text)
    assert older is not None
    second = web.get("/gestion/journal" + html.unescape(older.group(1)), headers={**host(SLUG), **HTML})
    assert second.status_code == 200 and "Newest events" in second.text and 'rel="next"' not in second.text
    second_ids = request_ids.findall(second.text)
    assert len(second_ids) == 10 and not set(first_ids) & set(second_ids)

    day = get(web, "/gestion/journal", person=actor_email, **{"from": "2024-03-11", "to": "2024-03-11"})
    assert len(request_ids.findall(day.text)) == 31  # the 30 at 00:30 and the one at 00:00, Paris time
    before = get(web, "/gestion/journal", person=actor_email, to="2024-03-10")
    assert len(request_ids.findall(before.text)) == 29
    other_action = get(web, "/gestion/journal", person=actor_email, action="sign_out")
    assert (
        request_ids.findall(other_action.text) == []
        and "No event matches these filters." in other_action.text
    )
    mine = get(web, "/gestion/journal", action="sign_in", person=admin.email)
    assert f"Auditor {tag}" in mine.text

    bad_date = get(web, "/gestion/journal", **{"from": "31/03/2024"})
    assert (
        bad_date.status_code == 400
        and 'id="error-from"' in bad_date.text
        and "Enter a date like" in bad_date.text
    )
    unknown = get(web, "/gestion/journal", person=f"nobody-{tag}@example.org")
    assert unknown.status_code == 400 and "Nobody in this service has this e-mail address." in unknown.text
    assert get(web, "/gestion/journal", action="drop_everything").status_code == 400
    backwards = get(web, "/gestion/journal", **{"from": "2024-03-12", "to": "2024-03-11"})
    assert backwards.status_code == 400 and 'id="error-to"' in backwards.text

    viewed = events(resources, desk, "audit_viewed", actor_id=admin.id)
    assert len(viewed) == 6  # every page shown; refused filters show none
    assert {e.details["actor_id"] for e in viewed} == {str(actor_id), str(admin.id)}
    assert all(actor_email not in json.dumps(e.details) for e in viewed)
    latest = get(web, "/gestion/journal", action="audit_viewed")
    assert "Audit log consulted" in latest.text and f"Auditor {tag}" in latest.text


# --- another tenant's ids ------------------------------------------------------------------------


def test_ids_of_another_tenant_find_nothing(
    web: Client, resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    tag = uuid.uuid4().hex[:6]
    sign_in(web, resources, tenant, ["tenant_admin"], slug="alpha")
    beta_person, beta_email, _ = make_person(resources, other_tenant, ["volunteer"], name=f"Beta {tag}")
    relative, beneficiary = add_people(
        resources,
        other_tenant,
        [(f"Beta relative {tag}", ["relative"], None), (f"Beta beneficiary {tag}", ["beneficiary"], None)],
    )
    mandate_id = uuid.uuid4()
    with resources.tenant_session(other_tenant) as session, session.begin():
        session.add(
            Mandate(id=mandate_id, relative_id=relative, beneficiary_id=beneficiary, consent="written")
        )

    page = get(web, f"/gestion/personnes/{beta_person}", slug="alpha")
    assert page.status_code == 404 and f"Beta {tag}" not in page.text and beta_email not in page.text
    roles = post(web, f"/gestion/personnes/{beta_person}/roles", {"roles": ["tenant_admin"]}, slug="alpha")
    assert roles.status_code == 404 and f"Beta {tag}" not in roles.text
    assert roles_of(resources, other_tenant, beta_person) == ["volunteer"]
    revoke = post(web, f"/gestion/mandats/{mandate_id}/revoquer", {}, slug="alpha")
    assert revoke.status_code == 404
    record = post(
        web,
        "/gestion/mandats",
        {"relative_id": str(relative), "beneficiary_id": str(beneficiary), "consent": "oral"},
        slug="alpha",
    )
    assert record.status_code == 400 and f"Beta relative {tag}" not in record.text
    with resources.tenant_session(other_tenant) as session:
        (mandate,) = session.scalars(select(Mandate).where(Mandate.relative_id == relative)).all()
        assert mandate.revoked_at is None
    with resources.tenant_session(tenant) as session:
        assert session.scalars(select(Mandate).where(Mandate.relative_id == relative)).all() == []
    search = get(web, "/gestion/personnes", slug="alpha", q=f"Beta {tag}")
    assert search.status_code == 200 and rows(search.text) == []
    journal = get(web, "/gestion/journal", slug="alpha", person=beta_email)
    assert journal.status_code == 400 and "Nobody in this service has this e-mail address." in journal.text
    # Alpha's session means nothing on beta's host.
    assert get(web, "/gestion/personnes", slug="beta").status_code == 303
