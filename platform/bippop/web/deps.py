"""Litestar dependencies every page may ask for: the request's tenant, its language (``locale``) and the
tenant's settings (``tenant_settings``: default language, modules switched on; cached with the tenant,
``web/tenant_settings.py``), each resolved once per request, so no handler fetches them by hand."""

from __future__ import annotations

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.tenants.context import TenantRef
from bippop.tenants.resolution import Site
from bippop.web.pages import page_locale
from bippop.web.tenant_settings import TenantSettings, tenant_settings


def tenant_of(request: Request) -> TenantRef:
    """The request's tenant (for pages served on tenant hosts only)."""
    site: Site = request.state.site
    assert site.tenant is not None
    return site.tenant


async def provide_locale(request: Request, db_session: NamedDependency[AsyncSession]) -> str:
    """The page's language, set before the handler makes any label or message."""
    return await page_locale(request, db_session)


async def provide_tenant_settings(request: Request) -> TenantSettings:
    return await tenant_settings(request)


PAGE_DEPENDENCIES = {
    "locale": Provide(provide_locale),
    "tenant_settings": Provide(provide_tenant_settings),
}
