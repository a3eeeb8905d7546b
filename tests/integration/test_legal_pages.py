"""The legal pages of a tenant and of the public site: generated from the tenant's data, edited by its
administrators only, never shown on another tenant, every text escaped."""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts.models import AuditEvent
from bippop.app import create_app
from bippop.config import Settings
from bippop.legal.content import SETTING_KEY
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.tenant_settings import Setting
from bippop_modules.events.models import REGISTRATIONS_KEPT_DAYS
from support import BASE_DOMAIN, csrf_token, host, log_in, make_person, make_tenant

Client = TestClient[Litestar]
SLUG = "legalville"
OTHER = "voisinville"
PAGES = ("/accessibilite", "/mentions-legales", "/confidentialite")


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    return make_tenant(
        settings,
        SLUG,
        "Légalville-sur-Oise",
        branding={
            "contact_phone": "03 44 00 00 07",
            "contact_email": "mairie@legalville.fr",
            "contact_address": "1 place de la Mairie, 60000 Légalville",
        },
    )


@pytest.fixture(scope="module")
def neighbour(settings: Settings) -> TenantRef:
    return make_tenant(settings, OTHER, "Voisinville")


@contextlib.contextmanager
def browser(settings: Settings, lang: str = "fr") -> Iterator[Client]:
    with TestClient(
        create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": lang}
    ) as c:
        yield c


def admin_of(web: Client, resources: PlatformResources, tenant: TenantRef, slug: str) -> str:
    _, email, secret = make_person(resources, tenant, ["tenant_admin"], totp=True, name="Adèle Admin")
    log_in(web, slug, email, secret)
    return csrf_token(web, slug)


FORM = {
    "conformance": "partial",
    "audit_date": "2026-03-15",
    "audit_results": "Taux de conformité : 87 %.\n\nAudit réalisé par Access42.",
    "derogations": "Les cartes <script>alert(1)</script> ne sont pas accessibles.",
    "publication_director": "Mme Jeanne Dupont, maire",
    "dpo_name": "Service DPO mutualisé",
    "dpo_email": "dpo@legalville.fr",
    "dpo_address": "",
    "legal_extra": "",
    "privacy_extra": "",
}


def test_generated_pages_name_the_tenant_and_its_contact(settings: Settings, town: TenantRef) -> None:
    with browser(settings) as web:
        pages = {path: web.get(path, headers=host(SLUG)) for path in PAGES}
    for path, response in pages.items():
        assert response.status_code == 200, path
        text = html.unescape(response.text)
        assert "Légalville-sur-Oise" in text, path
    accessibility = html.unescape(pages["/accessibilite"].text)
    assert "Déclaration d’accessibilité" in accessibility or "Déclaration d'accessibilité" in accessibility
    assert "n’a pas encore été audité" in accessibility or "n'a pas encore été audité" in accessibility
    assert "03 44 00 00 07" in accessibility and "Défenseur des droits" in accessibility
    assert "09 69 39 00 00" in accessibility and "Libre réponse 71120" in accessibility
    notice = html.unescape(pages["/mentions-legales"].text)
    assert "1 place de la Mairie" in notice
    assert "maire de Légalville-sur-Oise" in notice  # the default director of a commune
    assert settings.coop_name in notice
    privacy = html.unescape(pages["/confidentialite"].text)
    assert f"{settings.audit_retention_days} jours" in privacy  # the retention the code applies
    assert "Inscriptions aux événements" in privacy and f"{REGISTRATIONS_KEPT_DAYS} jours" in privacy
    assert "pas encore été indiqué" in privacy  # no DPO contact yet
    assert "CNIL" in privacy


def test_an_administrator_edits_them_and_the_pages_change(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with browser(settings) as web:
        token = admin_of(web, resources, town, SLUG)
        page = web.get("/gestion/pages-legales", headers=host(SLUG))
        assert page.status_code == 200 and "Pages légales" in page.text
        saved = web.post(
            "/gestion/pages-legales",
            data={**FORM, "_csrf_token": token},
            headers=host(SLUG),
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        accessibility = web.get("/accessibilite", headers=host(SLUG)).text
        notice = html.unescape(web.get("/mentions-legales", headers=host(SLUG)).text)
        privacy = html.unescape(web.get("/confidentialite", headers=host(SLUG)).text)
    assert "partiellement conforme" in accessibility
    assert (
        "<p>Taux de conformité : 87 %.</p>" in accessibility
        and "<p>Audit réalisé par Access42.</p>" in accessibility
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in accessibility and "<script>alert" not in accessibility
    assert "Mme Jeanne Dupont, maire" in notice
    assert "dpo@legalville.fr" in privacy and "pas encore été indiqué" not in privacy
    with resources.sessions()(info={"tenant": town}) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "legal_pages_changed")).all()
    assert events and "derogations" in events[-1].details["changed"]


def test_bad_input_is_refused_next_to_its_field_and_kept(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with browser(settings) as web:
        token = admin_of(web, resources, town, SLUG)
        refused = web.post(
            "/gestion/pages-legales",
            data={
                **FORM,
                "conformance": "parfait",
                "audit_date": "2999-01-01",
                "dpo_email": "pas-une-adresse",
                "derogations": "x" * 5001,
                "_csrf_token": token,
            },
            headers=host(SLUG),
        )
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    for field in ("conformance", "audit_date", "dpo_email", "derogations"):
        assert f'id="error-{field}"' in refused.text, field
    assert "5000 caractères au plus" in text
    assert "Mme Jeanne Dupont, maire" in text  # nothing typed is lost


@pytest.mark.parametrize("roles", [["coordinator"], ["volunteer"]])
def test_only_administrators_may_edit(
    settings: Settings, resources: PlatformResources, town: TenantRef, roles: list[str]
) -> None:
    _, email, secret = make_person(resources, town, roles, totp="coordinator" in roles)
    with browser(settings) as web:
        log_in(web, SLUG, email, secret)
        token = csrf_token(web, SLUG)
        assert web.get("/gestion/pages-legales", headers=host(SLUG)).status_code == 403
        posted = web.post(
            "/gestion/pages-legales",
            data={**FORM, "publication_director": "Usurpateur", "_csrf_token": token},
            headers=host(SLUG),
            follow_redirects=False,
        )
        assert posted.status_code == 403
        assert "Usurpateur" not in web.get("/mentions-legales", headers=host(SLUG)).text


def test_a_tenants_texts_never_show_on_another_tenant(
    settings: Settings, resources: PlatformResources, town: TenantRef, neighbour: TenantRef
) -> None:
    with browser(settings) as web:
        token = admin_of(web, resources, town, SLUG)
        web.post(
            "/gestion/pages-legales",
            data={**FORM, "publication_director": "Directrice de Légalville", "_csrf_token": token},
            headers=host(SLUG),
        )
    with browser(settings) as web:
        notice = html.unescape(web.get("/mentions-legales", headers=host(OTHER)).text)
    assert "Directrice de Légalville" not in notice and "Légalville" not in notice
    assert "maire de Voisinville" in notice
    with resources.sessions()(info={"tenant": neighbour}) as session:
        assert session.scalar(select(Setting.value).where(Setting.key == SETTING_KEY)) is None


def test_the_public_site_serves_the_platforms_own(settings: Settings) -> None:
    with browser(settings, lang="en") as web:
        for path in PAGES:
            response = web.get(path, headers={"Host": BASE_DOMAIN})
            assert response.status_code == 200, path
            assert settings.coop_name in html.unescape(response.text), path
        notice = html.unescape(web.get("/mentions-legales", headers={"Host": BASE_DOMAIN}).text)
    assert "Legal notice" in notice and settings.coop_publication_director in notice
