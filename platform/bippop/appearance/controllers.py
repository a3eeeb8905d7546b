"""``/gestion/apparence``: the branding editor of a tenant's administrator, and ``/logo``, the logo served.

Handlers parse the form, call one use case (``services``) and render the page or redirect (303). The
colour preview answers htmx with its fragment alone (announced politely), and without JavaScript the
« Preview » button posts the whole form and gets the whole page back, nothing saved and nothing lost.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.permissions import allowed, requires
from bippop.appearance import services
from bippop.appearance.images import MAX_LOGO_BYTES
from bippop.appearance.registry import TenantRegistry
from bippop.storage import TenantFiles
from bippop.tenants.branding import LOGO_TYPES
from bippop.tenants.models import Tenant
from bippop.web.deps import tenant_of
from bippop.web.forms import FormData, form_fields
from bippop.web.pages import page_locale, render, render_page
from bippop.web.templates import ThemeEngines
from bippop.web.tenant_settings import TenantSettings
from bippop.web.tenant_settings import forget as forget_tenant_settings

PATH = "/gestion/apparence"
# The logo form's body: the file (512 KB at most, refused with a message past that) and a few fields.
# Beyond this, Litestar answers 413 before reading further.
LOGO_BODY_BYTES = 2 * MAX_LOGO_BYTES + 64 * 1024
YEAR = 365 * 24 * 3600


def theme_options(request: Request[Any, Any, Any], locale: str) -> list[tuple[str, str]]:
    engines: ThemeEngines = request.app.state.templates
    return [(info.name, info.label_in(locale)) for info in engines.themes()]


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    identity: Identity,
    locale: str,
    default_locale: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    logo_errors: dict[str, str] | None = None,
    status: int = 200,
    fragment: str | None = None,
) -> Response[str]:
    tenant: Tenant = await TenantRegistry.of(request).read(lambda t: t)
    shown = values if values is not None else services.current_values(tenant, default_locale)
    context = {
        "values": shown,
        "errors": errors or {},
        "logo_errors": logo_errors or {},
        "themes": theme_options(request, locale),
        "preview": services.preview_colours(shown),
        "logo": tenant.branding or {},
        "saved": request.query_params.get("saved", ""),
        "may_configure_modules": allowed(identity.roles, "modules.configure"),
    }
    page = staff_context(identity, context)
    if fragment is None:
        return await render_page(request, db_session, "appearance/edit.html", page, status)
    # htmx gets the fragment alone (``render``); any other request, the whole page.
    shown_locale = await page_locale(request, db_session)
    return render(request, "appearance/edit.html", page, fragment=fragment, default_locale=shown_locale)


async def _refused(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    identity: Identity,
    locale: str,
    default_locale: str,
    outcome: services.AppearanceOutcome,
    *,
    logo: bool = False,
) -> Response[str]:
    """The editor again (400) with what was refused: the logo's message, or the form as it was sent."""
    values, errors = (None, None) if logo else (outcome.values, outcome.errors)
    logo_errors = outcome.errors if logo else None
    return await _page(
        request,
        db_session,
        identity,
        locale,
        default_locale,
        values=values,
        errors=errors,
        logo_errors=logo_errors,
        status=400,
    )


class AppearanceController(Controller):
    path = PATH
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("appearance.edit")], name="appearance")
    async def edit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        tenant_settings: NamedDependency[TenantSettings],
    ) -> Response[str]:
        return await _page(request, db_session, identity, locale, tenant_settings.default_locale)

    @post("/", guards=[requires("appearance.edit")])
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        tenant_settings: NamedDependency[TenantSettings],
        data: FormData,
    ) -> Response[Any]:
        form = form_fields(data)
        themes = [name for name, _label in theme_options(request, locale)]
        registry = TenantRegistry.of(request)
        outcome = await services.save_appearance(db_session, registry, identity.person_id, form, themes)
        if not outcome.done:
            return await _refused(request, db_session, identity, locale, "", outcome)
        await db_session.commit()
        await forget_tenant_settings(request.app.state.redis, tenant_of(request))
        return Redirect(f"{PATH}?saved=appearance", status_code=303)

    @post("/apercu", guards=[requires("appearance.edit")], name="appearance-preview")
    async def preview(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        tenant_settings: NamedDependency[TenantSettings],
        data: FormData,
    ) -> Response[str]:
        """The colours as they would look (htmx: the preview alone; otherwise the page, nothing saved)."""
        form = form_fields(data)
        values = {key: form.get(key, "") for key in services.FIELDS}
        errors = services.preview_colours(values).errors
        return await _page(
            request, db_session, identity, locale, "", values=values, errors=errors, fragment="preview"
        )

    @post(
        "/logo",
        guards=[requires("appearance.edit")],
        name="appearance-logo",
        request_max_body_size=LOGO_BODY_BYTES,
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        tenant_settings: NamedDependency[TenantSettings],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response[Any]:
        upload = data.get("logo")
        content = b""
        if isinstance(upload, UploadFile):
            content = await upload.read(MAX_LOGO_BYTES + 1)
        registry, files = (
            TenantRegistry.of(request),
            TenantFiles(request.app.state.storage, tenant_of(request)),
        )
        outcome = await services.upload_logo(db_session, registry, files, identity.person_id, content)
        if not outcome.done:
            default_locale = tenant_settings.default_locale
            return await _refused(request, db_session, identity, locale, default_locale, outcome, logo=True)
        return Redirect(f"{PATH}?saved=logo", status_code=303)

    @post("/logo/supprimer", guards=[requires("appearance.edit")], name="appearance-logo-remove")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Redirect:
        registry, files = (
            TenantRegistry.of(request),
            TenantFiles(request.app.state.storage, tenant_of(request)),
        )
        await services.remove_logo(db_session, registry, files, identity.person_id)
        return Redirect(f"{PATH}?saved=logo-removed", status_code=303)


class LogoController(Controller):
    """The tenant's logo on its own host. Only its own folder is ever read (``TenantFiles``)."""

    @get("/logo", opt={"public": True}, name="logo", include_in_schema=False)
    async def logo(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        branding = tenant_of(request).branding
        key, content_type, version = (branding.get(k) for k in ("logo_key", "logo_type", "logo_version"))
        if not key or content_type not in LOGO_TYPES:
            raise NotFoundException()
        files = TenantFiles(request.app.state.storage, tenant_of(request))
        try:
            data = await anyio.to_thread.run_sync(lambda: files.get(str(key)))
        except (FileNotFoundError, KeyError, ValueError):
            raise NotFoundException() from None
        current = request.query_params.get("v") == version
        headers = {
            "X-Content-Type-Options": "nosniff",
            # A new upload gets a new version, hence a new address: an old one may be kept for a year.
            "Cache-Control": f"public, max-age={YEAR}, immutable" if current else "no-cache",
        }
        if content_type == "image/svg+xml":
            headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return Response(data, media_type=str(content_type), headers=headers)
