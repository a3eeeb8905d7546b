"""Links the platform writes never come from the request's Host header (issue #9, item 1).

An attacker who chooses the Host header of a reset, sign-in link, sign-up or invitation form must
not receive the secret link: a forged header is a plain 400 and no mail is written; a legitimate
but different-looking one (the slug host with an odd port, capitals, a trailing dot, the custom
domain) still gets links on the tenant's registered address — its first custom domain — with the
scheme and port of ``BIPPOP_PUBLIC_URL``. The same holds for the calendar feed, the single sign-on
return address and the links written by jobs.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import icalendar
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import delete, select

from bippop.accounts.models import Person, Setting
from bippop.aid.models import Appointment, HelpRequest
from bippop.aid.reminders import plan_reminders
from bippop.app import create_app
from bippop.config import Settings
from bippop.outbox.models import OutboxMessage
from bippop.runtime.channels import configure_sign_in
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.services import TenantService
from oidc_provider import MockProvider
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, log_in, make_person, make_tenant

EN = {"bippop_lang": "en"}
SLUG_HOST = f"alpha.{BASE_DOMAIN}"
# What the settings of this module say the platform is reached on: scheme and port differ from the requests'.
PUBLIC_URL = f"https://{BASE_DOMAIN}:8443"
# Alpha's registered address: its (first) custom domain, with the scheme and port of PUBLIC_URL.
REGISTERED = "https://aide.alphaville.fr:8443"

FORGED_HOSTS = [
    f"{SLUG_HOST}:8102@evil.example",
    f"{SLUG_HOST}@evil.example",
    f"evil.example@{SLUG_HOST}",
    "aide.alphaville.fr:443@evil.example",
    f"{SLUG_HOST}:80:81",
    f"{SLUG_HOST}:80 evil.example",
    f"{SLUG_HOST} evil.example",
    f"{SLUG_HOST}:8000/evil.example",
    f"{SLUG_HOST}/evil.example",
    f"{SLUG_HOST}\\evil.example",
    f"{SLUG_HOST}\x00evil.example",
    f"{SLUG_HOST}:80\x00",
    f"{SLUG_HOST}\tevil.example",
    f"{SLUG_HOST}:0",
    f"{SLUG_HOST}:65536",
    f"{SLUG_HOST}:",
    f"{SLUG_HOST}:8o",
    "",
    "[::1]:8000",
]
# Hosts a real browser may send for alpha: none of them may show up in a link.
LEGIT_HOSTS = [f"{SLUG_HOST}:8000", f"ALPHA.{BASE_DOMAIN}.", "aide.alphaville.fr:8080", "AIDE.alphaville.fr"]


@pytest.fixture(scope="module")
def public_settings(settings: Settings) -> Settings:
    return settings.replace(public_url=PUBLIC_URL)


@pytest.fixture(scope="module")
def app(public_settings: Settings) -> Litestar:
    return create_app(public_settings)


@pytest.fixture
def web(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies=EN) as client:
        yield client


@dataclasses.dataclass(frozen=True)
class MailForm:
    path: str
    fields: dict[str, Any]
    recipient: str


@pytest.fixture(scope="module")
def mail_forms(resources: PlatformResources, tenant: TenantRef) -> dict[str, MailForm]:
    """Every form a stranger can use to have a mail with a secret link sent. (Rate limits count per
    address and are reset before each test; each test uses each form once per host.)"""
    _id, known, _secret = make_person(resources, tenant, ["volunteer"])
    _id, unverified, _secret = make_person(resources, tenant, ["volunteer"], verified=False)
    return {
        "reset": MailForm("/mot-de-passe-oublie", {"email": known}, known),
        "sign_in_link": MailForm("/connexion/lien", {"email": known, "next_url": "/compte"}, known),
        "verification_again": MailForm(
            "/connexion", {"email": unverified, "password": DEFAULT_PASSWORD}, unverified
        ),
    }


def sign_up_form() -> MailForm:
    newcomer = f"newcomer-{uuid.uuid4().hex[:8]}@example.org"
    fields = {"display_name": "Nina", "email": newcomer, "password": DEFAULT_PASSWORD, "role": "volunteer"}
    return MailForm("/inscription", fields, newcomer)


def mails_to(resources: PlatformResources, tenant: TenantRef, recipient: str) -> list[OutboxMessage]:
    with resources.tenant_session(tenant) as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.recipient == recipient)
                .order_by(OutboxMessage.created_at)
            )
        )


def links_in(mail: OutboxMessage) -> list[str]:
    return re.findall(r"\S+://\S+", mail.body)


def send(web: TestClient[Litestar], path: str, data: dict[str, Any], host_header: str) -> httpx.Response:
    token = web.cookies.get("csrftoken") or csrf_token(web, "alpha")
    return web.post(
        path, data={**data, "_csrf_token": token}, headers={"Host": host_header}, follow_redirects=False
    )


# Forged Host headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("forged", FORGED_HOSTS, ids=repr)
def test_a_forged_host_is_refused_and_no_mail_is_written(
    web: TestClient[Litestar],
    resources: PlatformResources,
    tenant: TenantRef,
    mail_forms: dict[str, MailForm],
    forged: str,
) -> None:
    for name, form in {**mail_forms, "sign_up": sign_up_form()}.items():
        before = len(mails_to(resources, tenant, form.recipient))
        response = send(web, form.path, form.fields, forged)
        assert response.status_code == 400, (name, response.text)
        assert "alpha" not in response.text.lower()  # names no tenant
        assert len(mails_to(resources, tenant, form.recipient)) == before, name


def test_two_host_headers_are_refused(
    app: Litestar, resources: PlatformResources, tenant: TenantRef, mail_forms: dict[str, MailForm]
) -> None:
    async def second_host(scope: Any, receive: Any, send: Any) -> None:
        """The test client folds repeated headers into one: this sends X-Second-Host as a second Host."""
        if scope["type"] == "http":
            headers = [(b"host" if k == b"x-second-host" else k, v) for k, v in scope["headers"]]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    form = mail_forms["reset"]
    before = len(mails_to(resources, tenant, form.recipient))
    with TestClient(second_host, base_url=f"http://{BASE_DOMAIN}", cookies=EN) as web:  # type: ignore[arg-type]
        response = web.post(
            form.path,
            data={**form.fields, "_csrf_token": csrf_token(web, "alpha")},
            headers={"Host": SLUG_HOST, "X-Second-Host": "evil.example"},
            follow_redirects=False,
        )
    assert response.status_code == 400
    assert len(mails_to(resources, tenant, form.recipient)) == before


def test_an_invitation_from_a_forged_host_is_refused(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _id, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    log_in(web, "alpha", email, secret)
    invited = f"invited-{uuid.uuid4().hex[:8]}@example.org"
    for forged in (f"{SLUG_HOST}:8102@evil.example", f"{SLUG_HOST}:80:81", f"{SLUG_HOST}/x"):
        response = send(web, "/gestion/invitations", {"email": invited, "roles": ["volunteer"]}, forged)
        assert response.status_code == 400, forged
    assert mails_to(resources, tenant, invited) == []


# Legitimate hosts: links on the registered address ---------------------------------------------------


@pytest.mark.parametrize("legit", LEGIT_HOSTS)
def test_mail_links_point_at_the_registered_address_whatever_the_host(
    web: TestClient[Litestar],
    resources: PlatformResources,
    tenant: TenantRef,
    mail_forms: dict[str, MailForm],
    legit: str,
) -> None:
    for name, form in {**mail_forms, "sign_up": sign_up_form()}.items():
        before = len(mails_to(resources, tenant, form.recipient))
        response = send(web, form.path, form.fields, legit)
        assert response.status_code in (200, 400), (name, response.text)
        mails = mails_to(resources, tenant, form.recipient)
        assert len(mails) == before + 1, name
        (link,) = links_in(mails[-1])
        assert link.startswith(f"{REGISTERED}/lien/"), (name, link)


def test_invitation_links_point_at_the_registered_address(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    _id, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    log_in(web, "alpha", email, secret)
    invited = f"invited-{uuid.uuid4().hex[:8]}@example.org"
    response = send(
        web, "/gestion/invitations", {"email": invited, "roles": ["volunteer"]}, f"{SLUG_HOST}:8000"
    )
    assert response.status_code == 303, response.text
    (mail,) = mails_to(resources, tenant, invited)
    (link,) = links_in(mail)
    assert link.startswith(f"{REGISTERED}/lien/")


def test_a_tenant_without_custom_domain_links_to_its_subdomain_then_to_the_domain_it_adds(
    web: TestClient[Litestar], resources: PlatformResources, public_settings: Settings
) -> None:
    bare = make_tenant(public_settings, "hote-nu", "Hôteville")
    _id, email, _secret = make_person(resources, bare, ["volunteer"])

    def link_sent_from(host_header: str) -> str:
        token = csrf_token(web, "hote-nu")
        response = web.post(
            "/mot-de-passe-oublie",
            data={"email": email, "_csrf_token": token},
            headers={"Host": host_header},
            follow_redirects=False,
        )
        assert response.status_code == 200, response.text
        return links_in(mails_to(resources, bare, email)[-1])[0]

    assert link_sent_from(f"hote-nu.{BASE_DOMAIN}:9999").startswith(
        f"https://hote-nu.{BASE_DOMAIN}:8443/lien/"
    )
    with resources.admin_sessions().begin() as session:
        service = TenantService(session, base_domain=BASE_DOMAIN, host_cache=resources.host_cache)
        service.add_domain(service.require("hote-nu"), "aide.hoteville.fr")
    # The subdomain's cached resolution follows at once: links go to the custom domain from then on.
    assert link_sent_from(f"hote-nu.{BASE_DOMAIN}:9999").startswith("https://aide.hoteville.fr:8443/lien/")


# Calendar feed ------------------------------------------------------------------------------------


def test_calendar_feed_address_and_its_links_use_the_registered_address(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    volunteer_id, email, _secret = make_person(resources, tenant, ["volunteer"])
    log_in(web, "alpha", email)
    page = send(web, "/benevole/agenda", {}, f"{SLUG_HOST}:8000")
    assert page.status_code == 200, page.text
    found = re.search(r"(\S+)/agenda/([A-Za-z0-9_\-]+)\.ics", page.text)
    assert found is not None, page.text
    assert found.group(1).endswith(REGISTERED), found.group(1)
    with resources.tenant_session(tenant) as session, session.begin():
        helped = Person(id=uuid.uuid4(), display_name="Jeanne M", roles=["beneficiary"], locale="fr")
        session.add(helped)
        session.flush()
        request = HelpRequest(
            id=uuid.uuid4(),
            module="visits",
            beneficiary_id=helped.id,
            created_as="beneficiary",
            status="scheduled",
            details={"frequency": "once"},
            volunteer_id=volunteer_id,
        )
        session.add(request)
        session.flush()
        starts = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
        session.add(
            Appointment(
                id=uuid.uuid4(),
                request_id=request.id,
                volunteer_id=volunteer_id,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=1),
                status="scheduled",
            )
        )
    feed = web.get(f"/agenda/{found.group(2)}.ics", headers={"Host": f"ALPHA.{BASE_DOMAIN}:8000"})
    assert feed.status_code == 200, feed.text
    (event,) = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert str(event["url"]) == f"{REGISTERED}/benevole/demandes/{request.id}"
    assert SLUG_HOST not in feed.text.lower()


# Single sign-on -----------------------------------------------------------------------------------


@pytest.fixture
def franceconnect(
    public_settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> Iterator[MockProvider]:
    provider = MockProvider().start()
    provider.register("alpha-fc", "alpha-fc-secret")
    configure_sign_in(
        public_settings,
        "alpha",
        "franceconnect",
        issuer=provider.issuer,
        client_id="alpha-fc",
        client_secret="alpha-fc-secret",
    )
    try:
        yield provider
    finally:
        with resources.tenant_session(tenant) as session, session.begin():
            session.execute(delete(Setting).where(Setting.key.like("sso.%")))
        provider.stop()


def test_sso_return_address_is_the_registered_address(
    web: TestClient[Litestar], franceconnect: MockProvider
) -> None:
    for forged in (f"{SLUG_HOST}:8102@evil.example", f"{SLUG_HOST}:80:81"):
        assert web.get("/connexion/franceconnect", headers={"Host": forged}).status_code == 400
    # Started on another of alpha's hosts: first to the registered address, where the state cookie lives.
    first = web.get(
        "/connexion/franceconnect?next_url=/compte",
        headers={"Host": f"{SLUG_HOST}:8000"},
        follow_redirects=False,
    )
    assert first.status_code == 303
    assert first.headers["location"] == f"{REGISTERED}/connexion/franceconnect?next_url=%2Fcompte"
    there = urlsplit(first.headers["location"])
    second = web.get(f"{there.path}?{there.query}", headers={"Host": there.netloc}, follow_redirects=False)
    assert second.status_code == 303
    at_provider = urlsplit(second.headers["location"])
    assert at_provider.netloc == urlsplit(franceconnect.issuer).netloc
    query = {k: v[0] for k, v in parse_qs(at_provider.query).items()}
    assert query["redirect_uri"] == f"{REGISTERED}/connexion/franceconnect/retour"
    # And the whole journey still ends signed in.
    franceconnect.user = {
        "sub": f"fc-{uuid.uuid4().hex[:8]}",
        "email": f"r-{uuid.uuid4().hex[:6]}@example.org",
    }
    franceconnect.user |= {"given_name": "Angela", "family_name": "Dubois"}
    back = urlsplit(httpx.get(second.headers["location"], follow_redirects=False).headers["location"])
    assert back.netloc == urlsplit(REGISTERED).netloc
    done = web.get(f"{back.path}?{back.query}", headers={"Host": back.netloc}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/compte", done.text


# Jobs ---------------------------------------------------------------------------------------------


def test_request_news_written_by_a_page_use_the_apps_settings(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    """A page writes its news with the application's settings, carried by its session, never with a
    second Settings of the process (whose public address differs here): the link has this app's port."""
    helped, helped_email, _secret = make_person(resources, tenant, ["beneficiary"])
    volunteer, volunteer_email, _secret = make_person(resources, tenant, ["volunteer"])
    request_id = uuid.uuid4()
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(
            HelpRequest(
                id=request_id,
                module="visits",
                beneficiary_id=helped,
                volunteer_id=volunteer,
                created_as="beneficiary",
                status="matched",
                details={"frequency": "once"},
            )
        )
    log_in(web, "alpha", helped_email)
    response = send(web, f"/mes-demandes/{request_id}/message", {"body": "Bonjour"}, SLUG_HOST)
    assert response.status_code == 303, response.text
    (mail,) = [m for m in mails_to(resources, tenant, volunteer_email) if m.purpose == "request_message"]
    assert f"{REGISTERED}/benevole/demandes/{request_id}" in mail.body


def test_reminder_links_written_by_the_job_use_the_custom_domain(
    public_settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    loaded = resources.load_tenant(tenant.id)  # as the worker's tenant middleware does
    assert loaded is not None and loaded.primary_domain == "aide.alphaville.fr"
    now = datetime.datetime.now(datetime.UTC)
    with resources.tenant_session(loaded) as session:
        try:
            volunteer = Person(id=uuid.uuid4(), display_name="Paul D", roles=["volunteer"], locale="en")
            helped = Person(id=uuid.uuid4(), display_name="Jeanne M", roles=["beneficiary"], locale="en")
            volunteer.email, helped.email = (
                f"{uuid.uuid4().hex[:8]}@example.org",
                f"{uuid.uuid4().hex[:8]}@x.org",
            )
            session.add_all([volunteer, helped])
            session.flush()
            request = HelpRequest(
                id=uuid.uuid4(),
                module="visits",
                beneficiary_id=helped.id,
                created_as="beneficiary",
                status="scheduled",
                details={"frequency": "once"},
                volunteer_id=volunteer.id,
            )
            session.add(request)
            session.flush()
            session.add(
                Appointment(
                    id=uuid.uuid4(),
                    request_id=request.id,
                    volunteer_id=volunteer.id,
                    starts_at=now + datetime.timedelta(hours=3),
                    ends_at=now + datetime.timedelta(hours=4),
                    status="scheduled",
                )
            )
            session.flush()
            ids = plan_reminders(session, now=now, settings=public_settings)
            bodies = {
                m.person_id: m.body
                for m in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            }
            assert f"{REGISTERED}/benevole/demandes/{request.id}" in bodies[volunteer.id]
            assert f"{REGISTERED}/mes-demandes/{request.id}" in bodies[helped.id]
            assert SLUG_HOST not in " ".join(bodies.values())
        finally:
            session.rollback()
