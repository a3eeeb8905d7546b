"""The councils' onboarding wizard through the real app: the whole path (platform mail read from the
platform outbox, TOTP from pyotp, a real worker finishing the sign-up, the administrator signed in on
the new portal), the refusals, resuming with only the cookie, back navigation, a failed provisioning
retried, and the purge of expired drafts."""

from __future__ import annotations

import datetime
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from test_coop_staff import COOP, COOP_HOST, STAFF_PASSWORD, enrolled_staff, send_code, sign_in
from wizard_support import VALID_SIRET, Wizard, choice_of, public_client

from bippop import clock as bippop_clock
from bippop.accounts.models import AuditEvent, Person
from bippop.app import create_app
from bippop.billing.models import BillingProfile
from bippop.config import Settings
from bippop.modules.registry import ENABLED_SETTING
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard import jobs as wizard_jobs
from bippop.onboarding.wizard.controllers import confirm as confirm_controllers
from bippop.onboarding.wizard.jobs import purge_expired
from bippop.onboarding.wizard.store import COOKIE, start_signup
from bippop.runtime.resources import PlatformResources
from bippop.tenants import provisioning
from bippop.tenants.context import TenantRef, tenant_scope
from bippop.tenants.models import Tenant
from bippop.tenants.tenant_settings import Setting
from support import BASE_DOMAIN, HandClock, csrf_token, make_tenant, running_worker


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def web(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with public_client(app) as client:
        yield client


@pytest.fixture
def wizard(web: TestClient[Litestar], resources: PlatformResources) -> Wizard:
    return Wizard(web, resources)


def tenant_named(resources: PlatformResources, slug: str) -> Tenant | None:
    with resources.sessions()() as session:
        return session.scalar(select(Tenant).where(Tenant.slug == slug))


def open_portal(wizard: Wizard, slug: str) -> str:
    """« Ouvrir mon portail », then the link's button and the two-step code: where it lands."""
    response = wizard.post("/creation/ouvrir")
    assert response.status_code == 303, response.text
    link = response.headers["location"]
    assert link.startswith(f"http://{slug}.{BASE_DOMAIN}/lien/"), link
    web = wizard.client
    page = web.get(link)
    assert page.status_code == 200, page.text
    token = csrf_token(web, slug)
    path = link.split(f"{BASE_DOMAIN}", 1)[1]
    host = {"Host": f"{slug}.{BASE_DOMAIN}"}
    used = web.post(
        path.split("?")[0],
        data={"_csrf_token": token, "next_url": "/gestion/premiers-pas"},
        headers=host,
        follow_redirects=False,
    )
    assert used.headers["location"] == "/connexion/code", used.text
    assert wizard.totp is not None
    code = pyotp.TOTP(wizard.totp).at(time.time() + 30)  # the enrolment used the current step
    signed = web.post(
        "/connexion/code", data={"code": code, "_csrf_token": token}, headers=host, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    return str(signed.headers["location"])


def test_the_whole_path_to_a_managed_portal(
    wizard: Wizard, settings: Settings, resources: PlatformResources
) -> None:
    entry = wizard.get("/inscription")
    assert entry.status_code == 303 and entry.headers["location"] == "/creation"
    assert wizard.get("/creation").headers["location"] == "/creation/collectivite"
    search = wizard.get("/creation/collectivite?q=pierrefonds")
    assert "Pierrefonds (60 – Oise)" in search.text
    email = "claire.martin@pierrefonds.example"
    wizard.to_confirm(choice_of("Pierrefonds", "60"), email, "pierrefonds")
    summary = wizard.get("/creation/confirmation")
    assert "http://pierrefonds.bippop.test" in summary.text and "excl. VAT per year" in summary.text
    mail = wizard.last_mail(email)
    assert "/creation/reprendre/" in mail.body and mail.purpose == "signup_code"
    with running_worker(settings):
        confirmed = wizard.post("/creation/confirmation")
        assert confirmed.headers["location"] == "/creation/progression"
        progress = wizard.get("/creation/progression")
        assert 'aria-live="polite"' in progress.text and "Refresh" in progress.text
        signup = wizard.wait_for("done")
    assert signup.password_hash is None and signup.totp_secret is None
    tenant = tenant_named(resources, "pierrefonds")
    assert tenant is not None and tenant.status == "active" and tenant.branding["tagline"] == "Ensemble"
    with resources.sessions()() as session:
        billing = session.get(BillingProfile, tenant.id)
        assert billing is not None and billing.siret == VALID_SIRET and billing.engagement_required
    with resources.tenant_session(tenant.ref()) as session:
        admin = session.scalars(select(Person)).one()
        assert admin.roles == ["tenant_admin"] and admin.email == email and admin.email_verified_at
        assert admin.totp_confirmed_at is not None
        enabled = session.scalar(select(Setting.value).where(Setting.key == ENABLED_SETTING))
        assert enabled == wizard.modules
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "tenant_created_by_signup"))
    page = wizard.get("/creation/progression")
    assert "Open my portal" in page.text
    assert open_portal(wizard, "pierrefonds") == "/gestion/premiers-pas"
    people = wizard.client.get("/gestion/personnes", headers={"Host": f"pierrefonds.{BASE_DOMAIN}"})
    assert people.status_code == 200 and "Claire Martin" in people.text
    # Only once: a second « Ouvrir » gives no second link.
    assert wizard.post("/creation/ouvrir").headers["location"] == "/creation/progression"


def test_a_registered_collectivity_offers_to_write_to_its_administrator(
    wizard: Wizard, settings: Settings, resources: PlatformResources
) -> None:
    choice = choice_of("Chantilly", "60")
    code = choice.split(":")[1]
    make_tenant(
        settings, "chantilly", "Chantilly", code=code, branding={"contact_email": "mairie@chantilly.example"}
    )
    listed = wizard.get("/creation/collectivite?q=chantilly")
    assert "already on Bip Pop" in listed.text
    response = wizard.choose(choice)
    assert response.headers["location"] == f"/creation/collectivite/deja?choix={choice}"
    page = wizard.get(response.headers["location"])
    assert "http://chantilly.bippop.test/" in page.text and "mairie@chantilly.example" not in page.text
    refused = wizard.post(
        "/creation/collectivite/deja", {"choix": choice, "name": "", "email": "x", "message": ""}
    )
    assert refused.status_code == 400 and 'id="error-email"' in refused.text
    sent = wizard.post(
        "/creation/collectivite/deja",
        {"choix": choice, "name": "Jean", "email": "jean@example.org", "message": "Bonjour, est-ce ouvert ?"},
    )
    assert sent.status_code == 200 and "has been sent" in sent.text
    mail = wizard.last_mail("mairie@chantilly.example")
    assert mail.reply_to == "jean@example.org" and "Bonjour, est-ce ouvert ?" in mail.body
    assert mail.body.startswith("Written by a visitor of the Bip Pop website")
    assert COOKIE not in wizard.client.cookies  # nothing was started
    # However many senders and addresses: a collectivity receives 20 such messages a day at most.
    with resources.sessions()() as session:
        chantilly = session.scalars(select(Tenant).where(Tenant.slug == "chantilly")).one()
    limiter = wizard.client.app.state.rate_limiter
    while limiter.hit_shared("signup_contact_received", tenant_id=chantilly.id) is None:
        pass
    flooded = wizard.post(
        "/creation/collectivite/deja",
        {"choix": choice, "name": "Paul", "email": "paul@example.org", "message": "Encore"},
    )
    assert flooded.status_code == 429 and "many messages today" in flooded.text
    assert "Encore" in flooded.text  # what was typed is kept


def test_refusals_are_shown_next_to_their_field_and_nothing_typed_is_lost(wizard: Wizard) -> None:
    assert wizard.get("/creation/adresse").headers["location"] == "/creation/collectivite"
    assert wizard.choose("commune:00000").status_code == 400
    assert wizard.choose(choice_of("Senlis", "60")).status_code == 303
    assert wizard.get("/creation/facturation").headers["location"] == "/creation/compte"
    weak = wizard.account("claire@senlis.example", password="password")
    assert weak.status_code == 400 and 'id="error-password"' in weak.text
    assert 'value="claire@senlis.example"' in weak.text
    assert wizard.account("claire@senlis.example").headers["location"] == "/creation/compte/code"
    bad = wizard.post("/creation/compte/code", {"code": "000000"})
    if wizard.email_code("claire@senlis.example") == "000000":
        bad = wizard.post("/creation/compte/code", {"code": "111111"})
    assert bad.status_code == 400 and 'id="error-code"' in bad.text
    assert (
        wizard.post("/creation/compte/code", {"code": wizard.email_code("claire@senlis.example")}).status_code
        == 303
    )
    wrong_totp = wizard.post("/creation/compte/double-authentification", {"code": "12"})
    assert wrong_totp.status_code == 400
    assert wizard.enrol_totp().headers["location"] == "/creation/adresse"
    reserved = wizard.post("/creation/adresse", {"slug": "www"})
    assert reserved.status_code == 400 and "kept by the platform" in reserved.text
    assert wizard.post("/creation/adresse", {"slug": "Sen lis!"}).status_code == 400
    assert wizard.post("/creation/adresse", {"slug": "senlis"}).status_code == 303
    dark = wizard.post("/creation/apparence", {"theme": "base", "primary": "#ffff00", "tagline": "Bonjour"})
    assert dark.status_code == 400 and 'id="error-primary"' in dark.text and 'value="Bonjour"' in dark.text
    assert wizard.post("/creation/apparence", {"theme": "base"}).status_code == 303
    assert wizard.post("/creation/services", {}).status_code == 400
    assert wizard.post("/creation/services", {"modules": wizard_modules(wizard)}).status_code == 303
    invalid = wizard.billing(siret="21600158600018")
    assert invalid.status_code == 400 and 'id="error-siret"' in invalid.text
    assert 'value="Paul Compta"' in invalid.text


def wizard_modules(wizard: Wizard) -> list[str]:
    page = wizard.get("/creation/services")
    return re.findall(r'name="modules" id="module-[^"]+" value="([^"]+)"', page.text)


def test_back_navigation_and_resuming_with_only_the_cookie(
    wizard: Wizard, app: Litestar, resources: PlatformResources
) -> None:
    wizard.to_confirm(choice_of("Creil", "60"), "admin@creil.example", "creil")
    back = wizard.get("/creation/adresse")
    assert back.status_code == 200 and 'value="creil"' in back.text
    account = wizard.get("/creation/compte")
    assert 'value="admin@creil.example"' in account.text and "checked" in account.text
    billing = wizard.get("/creation/facturation")
    assert f'value="{VALID_SIRET}"' in billing.text
    # Another collectivity chosen at the end: its address and legal name are asked again, the rest kept.
    assert wizard.choose(choice_of("Nogent-sur-Oise", "60")).headers["location"] == "/creation/compte"
    assert wizard.get("/creation/confirmation").headers["location"] == "/creation/adresse"
    assert 'value="nogent-sur-oise"' in wizard.get("/creation/adresse").text
    assert wizard.post("/creation/adresse", {"slug": "nogent-sur-oise"}).status_code == 303
    billing = wizard.get("/creation/facturation").text
    assert 'value="Nogent-sur-Oise"' in billing and VALID_SIRET not in billing
    assert wizard.choose(choice_of("Creil", "60")).status_code == 303
    assert wizard.post("/creation/adresse", {"slug": "creil"}).status_code == 303
    assert wizard.get("/creation/confirmation").headers["location"] == "/creation/facturation"
    assert wizard.billing().status_code == 303
    secret = wizard.client.cookies.get(COOKIE, path="/creation")
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}) as other:
        other.cookies.set(COOKIE, secret, domain=BASE_DOMAIN, path="/creation")
        assert other.get("/creation", follow_redirects=False).headers["location"] == "/creation/confirmation"
        assert 'value="creil"' in other.get("/creation/adresse").text
    link = re.search(r"/creation/reprendre/[A-Za-z0-9_\-]+", wizard.last_mail("admin@creil.example").body)
    assert link is not None
    with public_client(app) as elsewhere:
        page = elsewhere.get(link.group(0))
        assert page.status_code == 200
        padded = elsewhere.post(  # the secret and more matches nothing, and sets no cookie
            link.group(0) + "x" * 200,
            data={"_csrf_token": str(elsewhere.cookies.get("csrftoken"))},
            follow_redirects=False,
        )
        assert padded.headers["location"] == "/creation/collectivite" and COOKIE not in elsewhere.cookies
        resumed = elsewhere.post(
            link.group(0),
            data={"_csrf_token": str(elsewhere.cookies.get("csrftoken"))},
            follow_redirects=False,
        )
        assert resumed.headers["location"] == "/creation/confirmation"
        assert elsewhere.get("/creation/confirmation").status_code == 200


def test_a_slug_taken_before_confirming_sends_back_to_the_address(
    wizard: Wizard, settings: Settings, resources: PlatformResources
) -> None:
    wizard.to_confirm(choice_of("Noyon", "60"), "admin@noyon.example", "noyon")
    make_tenant(settings, "noyon", "Autre", code=choice_of("Clermont", "60").split(":")[1])
    refused = wizard.post("/creation/confirmation")
    assert refused.headers["location"] == "/creation/adresse?refus=slug"
    page = wizard.get(refused.headers["location"])
    assert "taken in the meantime" in page.text and 'id="error-slug"' in page.text
    assert wizard.get("/creation/confirmation").headers["location"] == "/creation/adresse"
    assert wizard.post("/creation/adresse", {"slug": "noyon-oise"}).status_code == 303
    assert wizard.signup().answers["billing"]["siret"] == VALID_SIRET  # the rest is kept


def coop_console(wizard: Wizard, resources: PlatformResources, settings: Settings) -> str:
    """The co-op console's list of tenants, seen by a staff member signed in with their second factor."""
    email, secret, _codes = enrolled_staff(resources, settings)
    token = csrf_token(wizard.client, COOP_HOST)
    assert sign_in(wizard.client, email, STAFF_PASSWORD, token).status_code == 303
    assert send_code(wizard.client, pyotp.TOTP(secret).now(), token).status_code == 303
    page = wizard.client.get("/", headers=COOP)
    assert page.status_code == 200, page.text
    return str(page.text)


def test_a_failed_provisioning_is_retried_to_the_end(
    wizard: Wizard, settings: Settings, resources: PlatformResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    wizard.to_confirm(choice_of("Lacroix-Saint-Ouen", "60"), "admin@lacroix.example", "lacroix")
    real = provisioning.provision
    calls: list[int] = []

    def failing_once(*args: Any, **kwargs: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(provisioning, "provision", failing_once)
    with running_worker(settings):
        wizard.post("/creation/confirmation")
        failed = wizard.wait_for("failed")
        assert "disk full" in (failed.last_error or "")
        page = wizard.get("/creation/progression")
        assert "Try again" in page.text and "disk full" not in page.text
        assert "disk full" in coop_console(wizard, resources, settings)  # the co-op sees the error
        assert wizard.post("/creation/reessayer").headers["location"] == "/creation/progression"
        wizard.wait_for("done")
    tenant = tenant_named(resources, "lacroix")
    assert tenant is not None and tenant.status == "active" and tenant.last_error is None
    with resources.tenant_session(tenant.ref()) as session:
        assert len(session.scalars(select(Person)).all()) == 1


def test_a_submitted_sign_up_whose_job_was_lost_is_resumed(
    wizard: Wizard, settings: Settings, resources: PlatformResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    wizard.to_confirm(choice_of("Breteuil", "60"), "admin@breteuil.example", "breteuil")
    monkeypatch.setattr(confirm_controllers, "enqueue_finish", lambda signup_id: None)  # the job is lost
    assert wizard.post("/creation/confirmation").headers["location"] == "/creation/progression"
    signup = wizard.signup()
    assert signup.status == "submitted"
    resumed: list[uuid.UUID] = []
    with monkeypatch.context() as patch:
        patch.setattr(wizard_jobs, "enqueue_finish", resumed.append)
        wizard_jobs.resume_stalled_signups()
    assert signup.id not in resumed  # submitted a moment ago: its job may still be on its way
    later = HandClock(datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=6))
    with running_worker(settings):
        with bippop_clock.use(later):
            wizard_jobs.resume_stalled_signups()  # the periodic job, on the real broker
        wizard.wait_for("done")
    tenant = tenant_named(resources, "breteuil")
    assert tenant is not None and tenant.status == "active"


def test_a_finish_job_stamped_with_a_tenant_does_nothing(
    wizard: Wizard, settings: Settings, tenant: TenantRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the public site's confirmation enqueues it, in platform scope: stamped with a tenant (a
    tenant's code enqueuing it), the worker refuses to run it."""
    wizard.to_confirm(choice_of("Liancourt", "60"), "admin@liancourt.example", "liancourt")
    monkeypatch.setattr(confirm_controllers, "enqueue_finish", lambda signup_id: None)
    wizard.post("/creation/confirmation")
    signup = wizard.signup()
    with running_worker(settings) as broker:
        with tenant_scope(tenant):
            wizard_jobs.finish_signup.send(str(signup.id))
        broker.join(wizard_jobs.finish_signup.queue_name, timeout=30_000)  # type: ignore[attr-defined]
    assert wizard.signup().status == "submitted"  # registered at confirmation, never provisioned
    registered = tenant_named(wizard.resources, "liancourt")
    assert registered is not None and registered.status == "pending"


def test_expired_drafts_are_purged(resources: PlatformResources) -> None:
    with resources.sessions().begin() as session:
        old, _secret = start_signup(session, "fr")  # type: ignore[arg-type]
        kept, _other = start_signup(session, "fr")  # type: ignore[arg-type]
        finished, _third = start_signup(session, "fr")  # type: ignore[arg-type]
        old.expires_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        finished.status = "done"
        finished.expires_at = old.expires_at  # a finished sign-up's expiry no longer counts
        old_id, kept_id, finished_id = old.id, kept.id, finished.id
    with resources.sessions().begin() as session:
        assert purge_expired(session) >= 1
    with resources.sessions()() as session:
        assert session.get(Signup, old_id) is None
        assert session.get(Signup, kept_id) is not None and session.get(Signup, finished_id) is not None
    clock = HandClock(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=31))
    with bippop_clock.use(clock), resources.sessions().begin() as session:
        purge_expired(session)
    with resources.sessions()() as session:
        assert session.get(Signup, kept_id) is None and session.get(Signup, finished_id) is None


def test_a_collectivity_registered_before_confirming_sends_back_to_the_first_step(
    wizard: Wizard, settings: Settings
) -> None:
    choice = choice_of("Pont-Sainte-Maxence", "60")
    wizard.to_confirm(choice, "admin@pont.example", "pont-sainte-maxence")
    make_tenant(settings, "pont-autre", "Pont-Sainte-Maxence", code=choice.split(":")[1])
    refused = wizard.post("/creation/confirmation")
    assert refused.headers["location"] == "/creation/collectivite?refus=registered"
    page = wizard.get(refused.headers["location"])
    assert "registered in the meantime" in page.text
    assert (
        wizard.signup().status == "draft"
        and wizard.signup().answers["address"]["slug"] == "pont-sainte-maxence"
    )
    assert tenant_named(wizard.resources, "pont-sainte-maxence") is None
