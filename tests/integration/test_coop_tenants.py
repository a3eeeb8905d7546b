"""Issue 12, item 1: the console's tenants — the list's filters (status, kind, département, plan,
overdue), a tenant's page (and nothing of another tenant on it), its lifecycle actions (each a
confirmation page, its effect, its audit entry), its domains, its administrator's invitation and its
support notes; staff only."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from coop_support import COOP, Console, staff_console
from litestar.testing import TestClient
from sqlalchemy import select, text

from bippop import clock
from bippop.accounts.models import AccountToken, Person
from bippop.app import create_app
from bippop.billing.models import BillingProfile, Invoice, Plan
from bippop.billing.services.issuing import Draft, Line, issue
from bippop.collectivities import catalogue
from bippop.config import Settings
from bippop.coop import lifecycle_jobs
from bippop.coop.models import AuditEntry, SupportNote, TenantUsage
from bippop.runtime.resources import PlatformResources
from bippop.tenants import lifecycle
from bippop.tenants.cache import host_key
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Domain, Tenant
from bippop.tenants.services import TenantService
from support import BASE_DOMAIN, DEFAULT_PASSWORD, HandClock, csrf_token, host, make_person, make_tenant

HTML = {"Accept": "text/html"}
SLUG_LINK = re.compile(r'href="/collectivites/([a-z0-9-]+)"')


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def town(settings: Settings, resources: PlatformResources) -> TenantRef:
    """A provisioned commune with a billing identity, an administrator and this month's usage."""
    ref = make_tenant(settings, unique("ct-"), "Villeconsole")
    with resources.admin_sessions().begin() as session:
        plan = session.scalar(select(Plan).where(Plan.is_default))
        assert plan is not None
        session.add(
            BillingProfile(
                tenant_id=ref.id,
                plan_id=plan.id,
                population=4000,
                legal_name="Commune de Villeconsole",
                siret="21600001200018",
                service_code="SERV-VC",
                engagement_number="ENG-4242",
                contact_name="Service finances",
                contact_email="finances@villeconsole.test",
            )
        )
        session.add(
            TenantUsage(tenant_id=ref.id, month=clock.today().replace(day=1), people_helped=37, volunteers=12)
        )
    make_person(
        resources, ref, ["tenant_admin"], email="camille.admin@villeconsole.test", name="Camille Maire"
    )
    return ref


@pytest.fixture
def console(settings: Settings, resources: PlatformResources) -> Iterator[Console]:
    with staff_console(settings, resources, role="coop_admin") as signed_in:
        yield signed_in


def audit(resources: PlatformResources, tenant_id: uuid.UUID, action: str) -> list[AuditEntry]:
    with resources.admin_sessions()() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.tenant_id == tenant_id, AuditEntry.action == action)
                .order_by(AuditEntry.id)
            )
        )


def tenant_row(resources: PlatformResources, tenant_id: uuid.UUID) -> Tenant:
    with resources.admin_sessions()() as session:
        found = session.get(Tenant, tenant_id)
        assert found is not None
        session.expunge(found)
        return found


def overdue_invoice(resources: PlatformResources, tenant_id: uuid.UUID, number_hint: str = "") -> Invoice:
    """An invoice issued in 2001 (its due date long past), nothing paid: overdue today."""
    draft = Draft(
        tenant_id=tenant_id,
        buyer={"name": "Acheteur " + number_hint, "siret": "21600001200018"},
        seller={"name": "Bip Pop SCIC", "siren": "123456782"},
        lines=[Line("Abonnement annuel", Decimal(1), Decimal("1000.00"), Decimal("20.00"))],
    )
    past = HandClock(datetime.datetime(2001, 3, 1, 10, tzinfo=datetime.UTC))
    with clock.use(past), resources.sessions().begin() as session:
        invoice = issue(session, draft)
        session.expunge(invoice)
    return invoice


def listed(console: Console, **params: str) -> list[str]:
    page = console.get("/", params=params)
    assert page.status_code == 200, page.text
    return SLUG_LINK.findall(page.text)


def register(resources: PlatformResources, settings: Settings, name: str, kind: str, code: str) -> Tenant:
    """A tenant row only (pending, not provisioned): enough for the list."""
    with resources.admin_sessions().begin() as session:
        service = TenantService(session, base_domain=settings.base_domain)
        found = service.register(
            slug=unique("f-"), name=name, kind=kind, official_code=code, check_official=False
        )
        session.expunge(found)
    return found


def test_the_list_filters_by_status_kind_departement_plan_and_overdue(
    console: Console, settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    marker = unique("Zorg")
    entries = catalogue().entries
    commune = next(e for e in entries if e.kind == "commune" and e.departement == "2A")
    epci = next(e for e in entries if e.kind == "epci" and e.departement == "2A")
    elsewhere = next(e for e in entries if e.kind == "commune" and e.departement == "60")
    in_commune = register(resources, settings, f"{marker} commune", "commune", commune.code)
    in_epci = register(resources, settings, f"{marker} epci", "epci", epci.code)
    in_dep = register(resources, settings, f"{marker} dep", "departement", "2A")
    outside = register(resources, settings, f"{marker} ailleurs", "commune", elsewhere.code)
    with resources.admin_sessions().begin() as session:
        plan = Plan(
            id=uuid.uuid4(), code=unique("p"), name=f"Offre {marker}", kind="flat", flat_price=Decimal(900)
        )
        session.add(plan)
        session.flush()
        session.add(
            BillingProfile(
                tenant_id=in_commune.id,
                plan_id=plan.id,
                population=120,
                legal_name="Commune",
                siret="21600001200018",
                contact_name="x",
                contact_email="x@example.org",
            )
        )
        session.execute(
            text("update platform.tenants set status = 'failed' where id = :id"), {"id": in_dep.id}
        )
    overdue_invoice(resources, in_epci.id)

    everything = {in_commune.slug, in_epci.slug, in_dep.slug, outside.slug}
    assert set(listed(console, q=marker)) == everything
    assert set(listed(console, q=marker, departement="2A")) == {in_commune.slug, in_epci.slug, in_dep.slug}
    assert set(listed(console, q=marker, departement="60")) == {outside.slug}
    assert set(listed(console, departement="60")) >= {outside.slug, tenant.slug}  # Compiègne is in the Oise
    assert tenant.slug not in listed(console, departement="2A")
    assert set(listed(console, q=marker, kind="epci")) == {in_epci.slug}
    assert set(listed(console, q=marker, status="failed")) == {in_dep.slug}
    assert set(listed(console, q=marker, status="pending", kind="commune")) == {in_commune.slug, outside.slug}
    assert set(listed(console, q=marker, plan=str(plan.id))) == {in_commune.slug}
    assert set(listed(console, q=marker, overdue="1")) == {in_epci.slug}
    page = console.get("/", params={"q": marker, "overdue": "1"})
    assert 'name="overdue" type="checkbox" value="1" checked' in page.text  # the form keeps its values
    assert '<label for="field-departement">' in page.text
    # An unknown value is ignored, not an error.
    assert set(listed(console, q=marker, status="nonsense", departement="99Z")) == everything


def test_a_tenants_page_shows_its_own_data_and_nothing_of_another(
    console: Console,
    settings: Settings,
    resources: PlatformResources,
    town: TenantRef,
    other_tenant: TenantRef,
) -> None:
    mine = overdue_invoice(resources, town.id, "mine")
    theirs = overdue_invoice(resources, other_tenant.id, "theirs")
    make_person(
        resources, other_tenant, ["tenant_admin"], email="bertrand@betaville.test", name="Bertrand Bêta"
    )
    with resources.admin_sessions().begin() as session:
        session.add(SupportNote(id=uuid.uuid4(), tenant_id=other_tenant.id, body="Note secrète de Bêta"))
    page = console.get(f"/collectivites/{town.slug}")
    assert page.status_code == 200, page.text
    body = page.text
    for expected in (
        "Villeconsole",
        "Commune de Villeconsole",
        "21600001200018",
        "SERV-VC",
        "ENG-4242",
        "€1,000.00",  # the default plan: EUR 0.25 × 4,000 inhabitants
        "Camille Maire",
        "camille.admin@villeconsole.test",
        ">37<",  # people helped this month
        mine.number,
        f'href="/factures/{mine.id}"',
    ):
        assert expected in body, expected
    for foreign in (
        theirs.number,
        "Bertrand",
        "bertrand@betaville.test",
        "Note secrète",
        "entraide.betaville.fr",
    ):
        assert foreign not in body, foreign
    assert console.get(f"/collectivites/{other_tenant.slug}").text.count("Bertrand Bêta") == 1


def test_usage_not_computed_yet_and_unknown_slugs(console: Console, tenant: TenantRef) -> None:
    page = console.get(f"/collectivites/{tenant.slug}")
    assert page.status_code == 200 and "Not computed yet." in page.text
    assert console.get("/collectivites/nobody-here").status_code == 404
    assert console.get("/collectivites/nobody-here/suspendre").status_code == 404
    assert console.get(f"/collectivites/{tenant.slug}/nonsense").status_code == 404
    assert console.get(f"/collectivites/{tenant.slug}/domaines/{uuid.uuid4()}").status_code == 404
    assert console.post("/collectivites/nobody-here/suspendre").status_code == 404


def test_suspend_then_reactivate_after_confirming(
    console: Console, settings: Settings, resources: PlatformResources
) -> None:
    ref = make_tenant(settings, unique("cs-"), "Suspendue")
    redis = resources.redis
    assert redis is not None
    hostname = f"{ref.slug}.{BASE_DOMAIN}"
    confirm = console.get(f"/collectivites/{ref.slug}/suspendre")
    assert confirm.status_code == 200 and "Suspend the tenant" in confirm.text
    assert tenant_row(resources, ref.id).status == "active"  # the page alone changes nothing
    redis.set(host_key(hostname), "stale")
    done = console.post(f"/collectivites/{ref.slug}/suspendre")
    assert done.status_code == 303 and done.headers["location"] == f"/collectivites/{ref.slug}?fait=suspend"
    row = tenant_row(resources, ref.id)
    assert row.status == "suspended" and row.suspended_at is not None
    assert redis.get(host_key(hostname)) is None  # no process serves the active tenant any more
    [entry] = audit(resources, ref.id, "tenant.suspend")
    assert entry.staff_id == console.staff_id and entry.details == {"before": "active"}
    again = console.post(f"/collectivites/{ref.slug}/suspendre")
    assert again.status_code == 400 and "Only an active tenant can be suspended." in again.text
    assert "Reactivate the tenant" in console.get(f"/collectivites/{ref.slug}/reactiver").text
    assert console.post(f"/collectivites/{ref.slug}/reactiver").status_code == 303
    assert tenant_row(resources, ref.id).status == "active"
    assert len(audit(resources, ref.id, "tenant.reactivate")) == 1


def test_export_then_delete_run_as_jobs_and_show_their_state(
    console: Console, settings: Settings, resources: PlatformResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = make_tenant(settings, unique("ce-"), "Exportée")
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(lifecycle_jobs.export_tenant_archive, "send", lambda *a: sent.append(a))
    monkeypatch.setattr(lifecycle_jobs.schedule_tenant_deletion, "send", lambda *a: sent.append(a))
    page = f"/collectivites/{ref.slug}"

    # No deletion without an export.
    assert "Days before its data is deleted" in console.get(f"{page}/supprimer").text
    refused = console.post(f"{page}/supprimer", {"grace_days": "30"})
    assert refused.status_code == 400 and "Export this tenant first" in refused.text
    assert console.post(f"{page}/supprimer", {"grace_days": "0"}).status_code == 400

    assert console.get(f"{page}/exporter").status_code == 200
    assert console.post(f"{page}/exporter").status_code == 303
    assert sent == [(str(ref.id), str(console.staff_id))]
    assert "running since" in console.get(page).text
    busy = console.post(f"{page}/exporter")
    assert busy.status_code == 400 and "already running" in busy.text
    lifecycle_jobs.export_tenant_archive(*sent.pop())  # what the worker does
    key = tenant_row(resources, ref.id).last_export_key
    assert key is not None and key.startswith(f"exports/{ref.id}/")
    [done] = audit(resources, ref.id, "tenant.export_done")
    assert done.target == key and done.staff_id == console.staff_id
    assert "done " in console.get(page).text

    assert console.post(f"{page}/supprimer", {"grace_days": "12"}).status_code == 303
    assert sent == [(str(ref.id), str(console.staff_id), 12)]
    [asked] = audit(resources, ref.id, "tenant.delete")
    assert asked.details == {"grace_days": 12}
    lifecycle_jobs.schedule_tenant_deletion(*sent.pop())
    row = tenant_row(resources, ref.id)
    assert row.status == "deleting" and row.delete_after is not None
    assert datetime.timedelta(days=11) < row.delete_after - clock.now() <= datetime.timedelta(days=12)
    assert len(audit(resources, ref.id, "tenant.delete_done")) == 1


def test_a_move_needs_another_cluster(
    console: Console, town: TenantRef, resources: PlatformResources
) -> None:
    confirm = console.get(f"/collectivites/{town.slug}/deplacer")
    assert confirm.status_code == 200 and "There is no other cluster" in confirm.text
    refused = console.post(f"/collectivites/{town.slug}/deplacer", {"cluster": "main"})
    assert refused.status_code == 400 and "Choose another cluster" in refused.text
    assert audit(resources, town.id, "tenant.move") == []


def test_a_move_to_another_cluster_runs_as_a_job(
    settings: Settings, resources: PlatformResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's side of a move (the move itself is ``tests/integration/test_clusters.py``'s)."""
    spare = {"url": settings.database_url, "admin_url": settings.database_admin_url}
    two = settings.replace(clusters=json.dumps({"eu-2": spare}))
    ref = make_tenant(settings, unique("cm-"), "Déplacée")
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(lifecycle_jobs.move_tenant_to_cluster, "send", lambda *a: sent.append(a))
    with staff_console(two, resources) as console:
        page = f"/collectivites/{ref.slug}/deplacer"
        assert '<option value="eu-2">' in console.get(page).text
        assert console.post(page, {"cluster": "eu-2"}).status_code == 303
        assert sent == [(str(ref.id), str(console.staff_id), "eu-2")]
        [asked] = audit(resources, ref.id, "tenant.move")
        assert asked.target == "eu-2" and asked.details == {"source": "main"}
        moved: list[tuple[Any, ...]] = []

        def fake_move(*args: Any, **kwargs: Any) -> str:
            moved.append(args)
            return "key"

        monkeypatch.setattr(lifecycle, "move_tenant", fake_move)
        process = PlatformResources(two)
        monkeypatch.setattr(lifecycle_jobs, "platform_resources", lambda: process)
        try:
            lifecycle_jobs.move_tenant_to_cluster(*sent.pop())
        finally:
            process.close()
        assert [(args[2], args[3]) for args in moved] == [(ref.id, "eu-2")]
        assert len(audit(resources, ref.id, "tenant.move_done")) == 1
        assert "done " in console.get(f"/collectivites/{ref.slug}").text


def test_a_failed_job_is_recorded(
    console: Console, resources: PlatformResources, town: TenantRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle_jobs.move_tenant_to_cluster(str(town.id), str(console.staff_id), "nowhere")
    [failed] = audit(resources, town.id, "tenant.move_failed")
    assert failed.details == {"reason": "unknown_cluster"}
    assert "failed " in console.get(f"/collectivites/{town.slug}").text


def test_staff_add_and_remove_a_domain(
    console: Console, resources: PlatformResources, town: TenantRef
) -> None:
    page = f"/collectivites/{town.slug}"
    hostname = f"{unique('aide-')}.villeconsole.fr"
    assert console.post(f"{page}/domaines", {"domain": hostname}).status_code == 303
    with resources.admin_sessions()() as session:
        domain = session.scalar(select(Domain).where(Domain.hostname == hostname))
        assert domain is not None and domain.tenant_id == town.id and domain.verified_at is not None
    [added] = audit(resources, town.id, "tenant.domain_add")
    assert added.target == str(domain.id)
    for bad in ("pas un domaine", f"x.{BASE_DOMAIN}", hostname):
        refused = console.post(f"{page}/domaines", {"domain": bad})
        assert refused.status_code == 400 and 'aria-describedby="error-domain"' in refused.text, bad
    confirm = console.get(f"{page}/domaines/{domain.id}")
    assert confirm.status_code == 200 and "Remove the domain" in confirm.text
    assert console.post(f"{page}/domaines/{domain.id}").status_code == 303
    with resources.admin_sessions()() as session:
        assert session.get(Domain, domain.id) is None
    assert len(audit(resources, town.id, "tenant.domain_remove")) == 1


def test_resend_the_administrators_invitation(
    console: Console, resources: PlatformResources, town: TenantRef
) -> None:
    page = f"/collectivites/{town.slug}/inviter"
    assert "Send the invitation" in console.get(page).text
    refused = console.post(page, {"email": "not an address"})
    assert refused.status_code == 400 and "Enter an e-mail address" in refused.text
    assert console.post(page, {"email": "Nouvelle.Admin@villeconsole.test"}).status_code == 303
    with resources.tenant_session(town) as session:
        token = session.scalar(
            select(AccountToken).where(
                AccountToken.email == "nouvelle.admin@villeconsole.test", AccountToken.used_at.is_(None)
            )
        )
        assert token is not None and token.roles == ["tenant_admin"]
    [entry] = audit(resources, town.id, "tenant.invite_admin")
    assert entry.target == str(token.id) and "villeconsole" not in str(entry.details)  # no address logged
    assert "nouvelle.admin@villeconsole.test" in console.get(f"/collectivites/{town.slug}").text


def test_support_notes(console: Console, resources: PlatformResources, town: TenantRef) -> None:
    page = f"/collectivites/{town.slug}"
    empty = console.post(f"{page}/notes", {"body": "   "})
    assert empty.status_code == 400 and 'id="error-body"' in empty.text
    long = console.post(f"{page}/notes", {"body": "a" * 4001})
    assert long.status_code == 400 and "a" * 4001 in long.text  # nothing typed is lost
    assert console.post(f"{page}/notes", {"body": "Rappelé le maire au sujet du devis."}).status_code == 303
    assert "Rappelé le maire au sujet du devis." in console.get(page).text
    [entry] = audit(resources, town.id, "tenant.note_add")
    with resources.admin_sessions()() as session:
        note = session.get(SupportNote, uuid.UUID(entry.target or ""))
        assert note is not None and note.staff_id == console.staff_id
    assert "Rappelé" not in str(entry.details)


def test_operators_may_and_signed_out_visitors_and_tenant_sessions_may_not(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with staff_console(settings, resources, role="coop_operator") as operator:
        assert operator.get(f"/collectivites/{town.slug}").status_code == 200
        assert operator.get(f"/collectivites/{town.slug}/suspendre").status_code == 200
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        anonymous = client.get(
            f"/collectivites/{town.slug}", headers={**COOP, **HTML}, follow_redirects=False
        )
        assert anonymous.status_code in (302, 303) and "/connexion" in anonymous.headers["location"]
        token = str(client.cookies.get("csrftoken") or csrf_token(client, COOP["Host"]))
        posted = client.post(
            f"/collectivites/{town.slug}/suspendre",
            data={"_csrf_token": token},
            headers=COOP,
            follow_redirects=False,
        )
        assert posted.status_code in (302, 303, 401, 403)
        # A tenant administrator's own session, sent to the co-op host, finds nothing there.
        _pid, email, _ = make_person(resources, town, ["tenant_admin"], name="Autre Admin")
        token = csrf_token(client, town.slug)
        signed_in = client.post(
            "/connexion",
            data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token},
            headers=host(town.slug),
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        foreign = client.get(f"/collectivites/{town.slug}", headers={**COOP, **HTML}, follow_redirects=False)
        assert foreign.status_code in (302, 303) and "/connexion" in foreign.headers["location"]
    assert tenant_row(resources, town.id).status == "active"
    with resources.tenant_session(town) as session:
        assert session.scalar(select(Person.id).where(Person.email == email)) is not None
