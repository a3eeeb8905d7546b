"""Issue 12: correcting a council's billing identity after sign-up. On the console (« Billing details »
of a tenant) the co-op changes every field, checked as the wizard checks them, audited with the names
of the fields changed only; a period held for a missing engagement number is invoiced by the next run
once it is given. On its portal the council's administrator changes its service code, engagement
number and billing contact — its own profile only, never who pays."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from coop_support import staff_console
from invoicing_support import SIRET, Billing, billing_kit
from litestar.testing import TestClient
from sqlalchemy import delete, select, update

from bippop import clock
from bippop.accounts.models import AuditEvent
from bippop.app import create_app
from bippop.billing.models import BillingProfile
from bippop.billing.services.parties import ENGAGEMENT_MISSING
from bippop.config import Settings
from bippop.coop.models import AuditEntry
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Tenant
from support import BASE_DOMAIN, host, log_in, make_person

OTHER_SIRET = "21600158600017"
CSRF_FIELD = 'name="_csrf_token" value="'


@pytest.fixture
def billing(resources: PlatformResources, settings: Settings) -> Iterator[Billing]:
    yield from billing_kit(resources, settings)


def slug(tenant_id: uuid.UUID) -> str:
    return f"fac-{tenant_id.hex[:12]}"


def profile_of(resources: PlatformResources, tenant_id: uuid.UUID) -> BillingProfile:
    with resources.sessions()() as session:
        profile = session.get_one(BillingProfile, tenant_id)
        session.expunge(profile)
        return profile


def console_entries(resources: PlatformResources, tenant_id: uuid.UUID) -> list[AuditEntry]:
    with resources.sessions()() as session:
        query = select(AuditEntry).where(
            AuditEntry.action == "tenant.billing_details", AuditEntry.tenant_id == tenant_id
        )
        return list(session.scalars(query))


def tenant_page(console: Any, billing: Billing, town: uuid.UUID, path: str) -> str:
    """The console's tenant page of a bare tenant (no schema: its administrators are not read while
    it is « moving »)."""
    with billing.resources.admin_sessions().begin() as session:
        session.execute(update(Tenant).where(Tenant.id == town).values(status="moving"))
    try:
        return str(console.get(path).text)
    finally:
        with billing.resources.admin_sessions().begin() as session:
            session.execute(update(Tenant).where(Tenant.id == town).values(status="active"))


def form(**changes: str) -> dict[str, str]:
    values = {
        "legal_name": "Commune de Lanterne",
        "siret": "216 001 586 00017",
        "service_code": "SERV-COMPTA",
        "engagement_required": "yes",
        "engagement_number": "EJ-2027-0042",
        "contact_name": "Alix Trésor",
        "contact_email": "Tresor@Lanterne.example.fr",
        "contact_phone": "03 44 40 72 00",
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def test_the_console_corrects_every_field_audited_by_name_only(
    billing: Billing, resources: PlatformResources
) -> None:
    town = billing.tenant(billing.plan())
    path = f"/collectivites/{slug(town)}/facturation"
    with staff_console(billing.settings, resources, role="coop_operator") as console:
        shown = tenant_page(console, billing, town, f"/collectivites/{slug(town)}")
        assert f'href="{path}"' in shown  # linked from the billing identity section
        page = console.get(path)
        assert page.status_code == 200 and CSRF_FIELD in page.text
        assert f'value="{SIRET}"' in page.text and 'value="compta@example.org"' in page.text

        refused = console.post(path, form(siret="216 001 586 00018"))  # the check digit is wrong
        assert refused.status_code == 400
        assert "This SIRET number is not valid" in refused.text
        assert 'aria-describedby="hint-siret error-siret"' in refused.text
        assert 'id="error-siret"' in refused.text and 'value="21600158600018"' in refused.text
        assert 'value="EJ-2027-0042"' in refused.text and 'value="Alix Trésor"' in refused.text  # kept
        for bad, field in (
            ({"contact_email": "a@b,c@d.fr"}, "contact_email"),
            ({"legal_name": "x" * 201}, "legal_name"),
            ({"service_code": "A\x07B"}, "service_code"),
        ):
            again = console.post(path, form(**bad))
            assert again.status_code == 400 and f'id="error-{field}"' in again.text
        assert profile_of(resources, town).siret == SIRET and console_entries(resources, town) == []

        done = console.post(path, form())
        assert done.status_code == 303
        assert done.headers["location"] == f"/collectivites/{slug(town)}?fait=billing_details"
        assert "The billing details are saved." in tenant_page(
            console, billing, town, done.headers["location"]
        )
        assert console.post(path, form()).status_code == 303  # the same again: nothing changed
        assert (
            console.post(f"/collectivites/nobody-{uuid.uuid4().hex[:6]}/facturation", form()).status_code
            == 404
        )

    saved = profile_of(resources, town)
    assert (saved.legal_name, saved.siret, saved.service_code) == (
        "Commune de Lanterne",
        OTHER_SIRET,
        "SERV-COMPTA",
    )
    assert (saved.engagement_required, saved.engagement_number) == (True, "EJ-2027-0042")
    assert (saved.contact_name, saved.contact_email, saved.contact_phone) == (
        "Alix Trésor",
        "tresor@lanterne.example.fr",
        "03 44 40 72 00",
    )
    (entry,) = console_entries(resources, town)  # the second save changed nothing: not recorded
    assert entry.staff_id == console.staff_id and entry.target == str(town)
    assert entry.details == {
        "changed": [
            "legal_name",
            "siret",
            "service_code",
            "engagement_required",
            "engagement_number",
            "contact_name",
            "contact_email",
            "contact_phone",
        ]
    }
    assert "Alix" not in str(entry.details) and "lanterne.example" not in str(entry.details)


def test_a_period_held_for_its_engagement_number_is_invoiced_once_it_is_given(
    billing: Billing, resources: PlatformResources
) -> None:
    town = billing.tenant(billing.plan(), engagement_required=True)
    with clock.use(billing.clock()):
        report = billing.run([town])
    assert report.issued == [] and [h.reason for h in billing.holds(town)] == [ENGAGEMENT_MISSING]
    path = f"/collectivites/{slug(town)}/facturation"
    with staff_console(billing.settings, resources) as console:
        page = console.get(path).text
        assert "Periods held" in page and "requires an engagement number" in page
        still = console.post(path, form(siret=SIRET, engagement_number=""))
        assert still.headers["location"].endswith("?fait=billing_details")  # still held: nothing said
        done = console.post(path, form(siret=SIRET, engagement_number="EJ-77"))
        assert done.headers["location"].endswith("?fait=billing_released")
        told = tenant_page(console, billing, town, done.headers["location"])
        assert "will invoice the held periods" in told
        assert f'href="/factures/emettre?collectivite={slug(town)}"' in told
    with clock.use(billing.clock()):
        report = billing.run([town])
    (invoice,) = billing.invoices(town)
    assert report.issued == [invoice.id] and invoice.buyer["engagement_number"] == "EJ-77"
    assert all(hold.resolved_at is not None for hold in billing.holds(town))


# The council's portal ---------------------------------------------------------------------------------


@pytest.fixture
def profiles(
    billing: Billing, resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> Iterator[None]:
    """A billing profile for the two tenants (the ones they had, if any, back afterwards)."""
    plan = billing.plan()
    ids = [tenant.id, other_tenant.id]
    with resources.admin_sessions().begin() as session:
        kept = [session.get(BillingProfile, tenant_id) for tenant_id in ids]
        for profile in kept:
            if profile is not None:
                session.expunge(profile)
        session.execute(delete(BillingProfile).where(BillingProfile.tenant_id.in_(ids)))
        for tenant_id in ids:
            session.add(
                BillingProfile(
                    tenant_id=tenant_id,
                    plan_id=plan.id,
                    population=1200,
                    legal_name="Commune Témoin",
                    siret=SIRET,
                    engagement_number="EJ-OLD",
                    contact_name="Camille Compta",
                    contact_email="compta@example.org",
                )
            )
    try:
        yield
    finally:
        with resources.admin_sessions().begin() as session:
            session.execute(delete(BillingProfile).where(BillingProfile.tenant_id.in_(ids)))
            for profile in kept:
                if profile is not None:
                    session.merge(profile)


@pytest.fixture
def portal(settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(
        create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}
    ) as client:
        yield client


def tenant_events(resources: PlatformResources, tenant: TenantRef) -> list[AuditEvent]:
    with resources.sessions()(info={"tenant": tenant}) as session:
        query = select(AuditEvent).where(AuditEvent.action == "billing_details_changed")
        return list(session.scalars(query))


def test_the_council_administrator_updates_its_own_engagement_number_only(
    profiles: None,
    portal: TestClient[Any],
    resources: PlatformResources,
    tenant: TenantRef,
    other_tenant: TenantRef,
) -> None:
    person_id, email, secret = make_person(resources, tenant, ["tenant_admin"], totp=True)
    log_in(portal, tenant.slug, email, secret)
    here = host(tenant.slug)
    listing = portal.get("/gestion/factures", headers=here)
    assert 'href="/gestion/factures/coordonnees"' in listing.text
    page = portal.get("/gestion/factures/coordonnees", headers=here)
    assert page.status_code == 200 and CSRF_FIELD in page.text and 'value="EJ-OLD"' in page.text
    assert "write to the co-operative" in page.text and 'name="siret"' not in page.text
    token = str(portal.cookies.get("csrftoken"))
    sent = {**form(engagement_number="EJ-2028-0001"), "_csrf_token": token}
    sent.update(legal_name="Someone Else", siret=OTHER_SIRET, tenant_id=str(other_tenant.id))  # not taken

    refused = portal.post(
        "/gestion/factures/coordonnees",
        data={**sent, "contact_phone": "12"},
        headers=here,
        follow_redirects=False,
    )
    assert refused.status_code == 400 and 'id="error-contact_phone"' in refused.text
    assert (
        'value="EJ-2028-0001"' in refused.text
        and profile_of(resources, tenant.id).engagement_number == "EJ-OLD"
    )

    done = portal.post("/gestion/factures/coordonnees", data=sent, headers=here, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/gestion/factures?fait=details"
    assert "The billing details are saved." in portal.get(done.headers["location"], headers=here).text

    own, theirs = profile_of(resources, tenant.id), profile_of(resources, other_tenant.id)
    assert (own.engagement_number, own.service_code, own.contact_email) == (
        "EJ-2028-0001",
        "SERV-COMPTA",
        "tresor@lanterne.example.fr",
    )
    assert (own.legal_name, own.siret) == ("Commune Témoin", SIRET)  # who pays: the co-op's to change
    assert (theirs.engagement_number, theirs.service_code, theirs.contact_name) == (
        "EJ-OLD",
        None,
        "Camille Compta",
    )
    (event,) = [e for e in tenant_events(resources, tenant) if e.actor_id == person_id]
    assert event.details == {
        "changed": [
            "service_code",
            "engagement_required",
            "engagement_number",
            "contact_name",
            "contact_email",
            "contact_phone",
        ]
    }
    assert [e for e in tenant_events(resources, other_tenant) if e.actor_id == person_id] == []


def test_a_coordinator_may_not_see_nor_change_the_billing_details(
    profiles: None, portal: TestClient[Any], resources: PlatformResources, tenant: TenantRef
) -> None:
    _id, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    log_in(portal, tenant.slug, email, secret)
    here = host(tenant.slug)
    assert portal.get("/gestion/factures/coordonnees", headers=here).status_code == 403
    token = str(portal.cookies.get("csrftoken"))
    posted = portal.post(
        "/gestion/factures/coordonnees",
        data={**form(engagement_number="EJ-COORD"), "_csrf_token": token},
        headers=here,
        follow_redirects=False,
    )
    assert posted.status_code == 403
    assert profile_of(resources, tenant.id).engagement_number == "EJ-OLD"
