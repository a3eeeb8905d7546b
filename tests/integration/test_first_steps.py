"""A new portal's first steps (``/gestion/premiers-pas``): each step turns from to do to done with real
data, only the tenant's administrator opens the page, and publishing or unpublishing changes what a
visitor sees on the home page and the sign-up page — audited, and for that tenant only."""

from __future__ import annotations

import contextlib
import html
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts import audit
from bippop.accounts.models import AuditEvent, Person
from bippop.app import create_app
from bippop.config import Settings
from bippop.onboarding.first_steps import UNPUBLISHED_SETTINGS, published_statement
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Tenant
from bippop.tenants.services import TenantService
from bippop.tenants.tenant_settings import Setting
from support import BASE_DOMAIN, csrf_token, forget_tenant_settings, host, log_in, make_person, make_tenant

EN = {"bippop_lang": "en"}
HTML = {"Accept": "text/html"}
Client = TestClient[Litestar]
OPENING_SOON = "This portal will open soon"
NOT_OPEN = "This portal is not open yet"
BANNER = "Your portal is not published yet"


@contextlib.contextmanager
def browser(settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies=EN) as client:
        yield client


@pytest.fixture
def web(settings: Settings) -> Iterator[Client]:
    with browser(settings) as client:
        yield client


def new_tenant(settings: Settings, resources: PlatformResources, *, unpublished: bool) -> TenantRef:
    """A tenant of its own; ``unpublished`` as the wizard leaves it (the CLI's stays published)."""
    slug = f"pas-{uuid.uuid4().hex[:8]}"
    tenant = make_tenant(settings, slug, f"Premierville {slug[-4:]}")
    if unpublished:
        assert UNPUBLISHED_SETTINGS == {"published": False}
        with resources.tenant_session(tenant) as session, session.begin():
            session.execute(published_statement(False))
        forget_tenant_settings(resources, tenant)
    return tenant


def sign_in(web: Client, resources: PlatformResources, tenant: TenantRef, roles: list[str]) -> uuid.UUID:
    staff = bool({"coordinator", "tenant_admin"} & set(roles))
    person_id, email, secret = make_person(resources, tenant, roles, totp=staff, name="Admin Premier")
    log_in(web, tenant.slug, email, secret)
    return person_id


def get(web: Client, tenant: TenantRef, path: str) -> Any:
    return web.get(path, headers={**host(tenant.slug), **HTML}, follow_redirects=False)


def post(web: Client, tenant: TenantRef, path: str, data: dict[str, Any] | None = None) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, tenant.slug)
    return web.post(
        path,
        data={**(data or {}), "_csrf_token": token},
        headers={**host(tenant.slug), **HTML},
        follow_redirects=False,
    )


def steps(page: str) -> dict[str, bool]:
    """Each step of the checklist page: done or not, as the page says it in words."""
    found = re.findall(r'<li class="request-card" id="step-([a-z_]+)">(.*?)</li>', page, re.S)
    assert found, page
    result = {}
    for key, body in found:
        text = html.unescape(re.sub(r"<[^>]+>", " ", body))
        assert ("Status: done" in text) != ("Status: to do" in text), text
        result[key] = "Status: done" in text
    return result


def events(resources: PlatformResources, tenant: TenantRef, action: str) -> list[AuditEvent]:
    with resources.tenant_session(tenant) as session:
        return list(audit.search(session, action=action))


def set_phone(settings: Settings, resources: PlatformResources, tenant: TenantRef, phone: str) -> None:
    """What the appearance page does: the tenant's branding, with the host cache dropped."""
    with resources.admin_sessions().begin() as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        service = TenantService(session, base_domain=settings.base_domain, host_cache=resources.host_cache)
        service.set_branding(row, {"contact_phone": phone})


def visitor_sees(settings: Settings, tenant: TenantRef) -> tuple[str, str]:
    """The home and sign-up pages of ``tenant`` for someone signed out."""
    with browser(settings) as anonymous:
        home = get(anonymous, tenant, "/")
        sign_up = get(anonymous, tenant, "/inscription?role=volunteer")
    assert home.status_code == 200 and sign_up.status_code == 200
    return home.text, sign_up.text


def test_a_tenant_without_the_setting_is_published(
    web: Client, settings: Settings, resources: PlatformResources
) -> None:
    tenant = new_tenant(settings, resources, unpublished=False)
    with resources.tenant_session(tenant) as session:
        assert session.scalar(select(Setting.value).where(Setting.key == "published")) is None
    home, sign_up = visitor_sees(settings, tenant)
    assert "I need help" in home and "I want to help" in home and OPENING_SOON not in home
    assert "Create my account" in sign_up and NOT_OPEN not in sign_up
    sign_in(web, resources, tenant, ["tenant_admin"])
    page = get(web, tenant, "/gestion/premiers-pas")
    assert page.status_code == 200
    assert steps(page.text)["publish"] is True
    assert "Unpublish the portal" in page.text and "Publish the portal</button>" not in page.text


def test_each_step_turns_done_with_real_data(
    web: Client, settings: Settings, resources: PlatformResources
) -> None:
    tenant = new_tenant(settings, resources, unpublished=True)
    admin_id = sign_in(web, resources, tenant, ["tenant_admin", "coordinator"])
    first = get(web, tenant, "/gestion/premiers-pas")
    assert first.status_code == 200
    # The administrator's own coordinator role does not count: they are not "the coordinators".
    assert steps(first.text) == {
        "recovery_codes": False,  # two-step sign-in is on, but no code is kept yet
        "coordinators": False,
        "partners": False,
        "contact_phone": False,
        "publish": False,
    }
    assert "5 steps left" in first.text and 'href="/compte#two-step"' in first.text
    made = post(web, tenant, "/compte/codes-de-secours")
    assert made.status_code == 200 and made.text.count("<li>") >= 10
    assert steps(get(web, tenant, "/gestion/premiers-pas").text)["recovery_codes"] is True
    assert (
        'href="/gestion/invitations?role=partner"' in first.text and 'href="/gestion/apparence"' in first.text
    )
    partner_form = get(web, tenant, "/gestion/invitations?role=partner").text  # the role is ticked
    assert 'id="roles-partner" value="partner" checked' in partner_form
    assert 'value="coordinator" checked' not in partner_form
    assert " checked" not in get(web, tenant, "/gestion/invitations?role=root").text.split("<fieldset")[1]
    assert 'href="/gestion/premiers-pas" aria-current="page"' in first.text  # in the staff navigation

    # Coordinators: a pending invitation, sent through the invitations page, is enough.
    sent = post(web, tenant, "/gestion/invitations", {"email": "agent@example.org", "roles": "coordinator"})
    assert sent.status_code == 303, sent.text
    assert steps(get(web, tenant, "/gestion/premiers-pas").text)["coordinators"] is True

    # Partners: a partner's account (already there, or invited).
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(Person(id=uuid.uuid4(), display_name="CCAS", roles=["partner"]))
    assert steps(get(web, tenant, "/gestion/premiers-pas").text)["partners"] is True

    set_phone(settings, resources, tenant, "03 44 40 72 00")
    page = get(web, tenant, "/gestion/premiers-pas")
    assert steps(page.text)["contact_phone"] is True and "03 44 40 72 00" in page.text

    published = post(web, tenant, "/gestion/premiers-pas/publier")
    assert published.status_code == 303
    assert published.headers["location"] == "/gestion/premiers-pas?done=published"
    page = get(web, tenant, published.headers["location"])
    assert steps(page.text) == dict.fromkeys(
        ("recovery_codes", "coordinators", "partners", "contact_phone", "publish"), True
    )
    assert "Your portal is published" in page.text and "Everything is ready" in page.text
    (event,) = events(resources, tenant, "portal_published")
    assert event.actor_id == admin_id
    journal = get(web, tenant, "/gestion/journal?action=portal_published")
    assert journal.status_code == 200 and "Portal published" in journal.text


def test_only_the_administrator_opens_the_checklist(
    web: Client, settings: Settings, resources: PlatformResources
) -> None:
    tenant = new_tenant(settings, resources, unpublished=True)
    for roles in (["coordinator"], ["volunteer"], ["partner"]):
        with browser(settings) as someone:
            sign_in(someone, resources, tenant, roles)
            assert get(someone, tenant, "/gestion/premiers-pas").status_code == 403, roles
            assert post(someone, tenant, "/gestion/premiers-pas/publier").status_code == 403, roles
            if roles == ["coordinator"]:
                # Staff see the portal as it will be, under a banner (without the link they may not open).
                home = get(someone, tenant, "/").text
                assert BANNER in home and "I need help" in home and OPENING_SOON not in home
                assert 'href="/gestion/premiers-pas"' not in home
                assert "First steps" not in get(someone, tenant, "/gestion/personnes").text
    home, sign_up = visitor_sees(settings, tenant)
    assert OPENING_SOON in home and NOT_OPEN in sign_up  # nobody above could publish it
    with browser(settings) as anonymous:  # « I need help » offers the town hall only: sign-up is closed
        ways = get(anonymous, tenant, "/demander").text
    assert "will open soon" in ways and "/inscription" not in ways and "Phone the town hall" in ways
    assert events(resources, tenant, "portal_published") == []
    # Signed out, the page sends to the sign-in form.
    anonymous = get(web, tenant, "/gestion/premiers-pas")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/connexion")


def test_publishing_opens_the_portal_of_that_tenant_only(
    web: Client, settings: Settings, resources: PlatformResources
) -> None:
    alpha = new_tenant(settings, resources, unpublished=True)
    beta = new_tenant(settings, resources, unpublished=True)
    set_phone(settings, resources, alpha, "03 44 00 00 09")
    home, sign_up = visitor_sees(settings, alpha)  # read (and cached) before the change
    assert OPENING_SOON in home and "03 44 00 00 09" in home
    assert "I need help" not in home and "I want to help" not in home
    assert NOT_OPEN in sign_up and "Create my account" not in sign_up
    # Nothing is made by sending the form anyway.
    with browser(settings) as anonymous:
        refused = post(
            anonymous,
            alpha,
            "/inscription",
            {"role": "volunteer", "display_name": "Eve", "email": "eve@example.org", "password": "x" * 12},
        )
    assert refused.status_code == 403 and NOT_OPEN in refused.text
    with resources.tenant_session(alpha) as session:
        assert session.scalar(select(Person.id).where(Person.email == "eve@example.org")) is None

    admin_id = sign_in(web, resources, alpha, ["tenant_admin"])
    staff_home = get(web, alpha, "/").text
    assert (
        BANNER in staff_home and 'href="/gestion/premiers-pas"' in staff_home and "I need help" in staff_home
    )
    assert "Publish the portal</button>" in get(web, alpha, "/gestion/premiers-pas").text
    assert post(web, alpha, "/gestion/premiers-pas/publier").status_code == 303
    home, sign_up = visitor_sees(settings, alpha)
    assert "I need help" in home and "I want to help" in home and OPENING_SOON not in home
    assert "Create my account" in sign_up and NOT_OPEN not in sign_up
    assert BANNER not in get(web, alpha, "/").text
    # Beta is untouched.
    home, sign_up = visitor_sees(settings, beta)
    assert OPENING_SOON in home and NOT_OPEN in sign_up
    assert events(resources, beta, "portal_published") == []

    # Publishing again changes nothing and records nothing more; unpublishing closes it again.
    assert post(web, alpha, "/gestion/premiers-pas/publier").status_code == 303
    assert len(events(resources, alpha, "portal_published")) == 1
    closed = post(web, alpha, "/gestion/premiers-pas/depublier")
    assert closed.headers["location"] == "/gestion/premiers-pas?done=unpublished"
    home, sign_up = visitor_sees(settings, alpha)
    assert OPENING_SOON in home and NOT_OPEN in sign_up
    (event,) = events(resources, alpha, "portal_unpublished")
    assert event.actor_id == admin_id
    assert steps(get(web, alpha, "/gestion/premiers-pas").text)["publish"] is False


def test_an_administrator_of_one_tenant_cannot_publish_another(
    web: Client, settings: Settings, resources: PlatformResources
) -> None:
    alpha = new_tenant(settings, resources, unpublished=True)
    beta = new_tenant(settings, resources, unpublished=True)
    sign_in(web, resources, alpha, ["tenant_admin"])
    session_cookie = web.cookies.get("bippop_session")
    token = web.cookies.get("csrftoken")
    assert session_cookie and token
    # Alpha's cookies replayed on beta's host: nobody is signed in there.
    response = web.post(
        "/gestion/premiers-pas/publier",
        data={"_csrf_token": token},
        headers={**host(beta.slug), **HTML, "Cookie": f"bippop_session={session_cookie}; csrftoken={token}"},
        follow_redirects=False,
    )
    assert response.status_code in (303, 401, 403)
    home, _sign_up = visitor_sees(settings, beta)
    assert OPENING_SOON in home
    assert events(resources, beta, "portal_published") == []
