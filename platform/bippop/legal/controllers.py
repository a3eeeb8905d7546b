"""The legal pages on every site, and the tenant administrators' page that edits their texts."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.permissions import requires
from bippop.config import Settings
from bippop.legal.content import (
    CONFORMANCE,
    LIMITS,
    LegalTexts,
    conformance_labels,
    default_director,
    paragraphs,
    read_texts,
    retention_periods,
)
from bippop.legal.services import save_legal_texts
from bippop.tenants.models import KIND_LABELS
from bippop.tenants.resolution import Site
from bippop.tenants.urls import tenant_url
from bippop.web.deps import PAGE_DEPENDENCIES, tenant_of
from bippop.web.forms import FormData, form_fields
from bippop.web.pages import ALL_SITES, render_page
from bippop.web.tenant_settings import forget as forget_tenant_settings

OPT = {"sites": ALL_SITES, "public": True}
EDIT_PATH = "/gestion/pages-legales"


async def legal_context(request: Request, site: Site, db_session: AsyncSession) -> dict[str, Any]:
    """Who publishes the site and what its administrators wrote: the tenant on a tenant's site, the
    co-operative on the public site and the co-op console."""
    settings: Settings = request.app.state.settings
    coop = {
        "name": settings.coop_name,
        "address": settings.coop_address,
        "siren": settings.coop_siren,
        "phone": settings.coop_phone,
        "email": settings.coop_contact_email,
    }
    if site.tenant is not None:
        tenant = site.tenant
        branding = tenant.branding or {}
        texts = await read_texts(db_session)
        publisher = {
            "name": tenant.name,
            "kind": KIND_LABELS.get(tenant.kind, ""),
            "address": branding.get("contact_address"),
            "phone": branding.get("contact_phone"),
            "email": branding.get("contact_email"),
        }
        director = texts.publication_director or default_director(tenant)
        url = tenant_url(tenant, "", settings)
    else:
        texts = LegalTexts()
        publisher = {**coop, "kind": ""}
        director = settings.coop_publication_director
        url = settings.effective_public_url
    return {
        "texts": texts,
        "publisher": publisher,
        "coop": coop,
        "director": director,
        "site_url": url,
        "conformance_label": conformance_labels()[texts.conformance],
        "paragraphs": paragraphs,
        "retention": retention_periods(settings),
        "is_tenant": site.tenant is not None,
    }


class LegalPagesController(Controller):
    dependencies = PAGE_DEPENDENCIES

    @get("/accessibilite", opt=OPT, name="legal-accessibility")
    async def accessibility(
        self, request: Request, site: NamedDependency[Site], db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        context = await legal_context(request, site, db_session)
        return await render_page(request, db_session, "legal/accessibility.html", context)

    @get("/mentions-legales", opt=OPT, name="legal-notice")
    async def notice(
        self, request: Request, site: NamedDependency[Site], db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        context = await legal_context(request, site, db_session)
        return await render_page(request, db_session, "legal/notice.html", context)

    @get("/confidentialite", opt=OPT, name="legal-privacy")
    async def privacy(
        self, request: Request, site: NamedDependency[Site], db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        context = await legal_context(request, site, db_session)
        return await render_page(request, db_session, "legal/privacy.html", context)


def _form_values(texts: LegalTexts) -> dict[str, str]:
    data = texts.to_json()
    return {key: "" if value is None else str(value) for key, value in data.items()}


async def _edit_page(
    request: Request,
    db_session: AsyncSession,
    identity: Identity,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    saved: bool = False,
    status: int = 200,
) -> Response[str]:
    context = {
        "values": values,
        "errors": errors,
        "saved": saved,
        "limits": LIMITS,
        "conformance_options": [(key, conformance_labels()[key]) for key in CONFORMANCE],
        "default_director": default_director(tenant_of(request)),
    }
    return await render_page(
        request, db_session, "admin/legal_pages.html", staff_context(identity, context), status=status
    )


class LegalAdminController(Controller):
    path = EDIT_PATH
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("legal.edit")], name="admin-legal-pages")
    async def edit(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        values = _form_values(await read_texts(db_session))
        saved = request.query_params.get("saved") == "1"
        return await _edit_page(request, db_session, identity, values=values, errors={}, saved=saved)

    @post("/", guards=[requires("legal.edit")])
    async def save(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        form = form_fields(data)
        outcome = await save_legal_texts(db_session, form, actor_id=identity.person_id)
        if not outcome.done:
            values = {key: form.get(key, "") for key in (*LIMITS, "conformance", "audit_date")}
            return await _edit_page(
                request, db_session, identity, values=values, errors=outcome.errors, status=400
            )
        await db_session.commit()
        await forget_tenant_settings(request.app.state.redis, tenant_of(request))  # no stale copy is kept
        return Redirect(f"{EDIT_PATH}?saved=1", status_code=303)
