"""Dependency providers shared by controllers (and, later, jobs and CLI commands)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.tenants.resolution import Site
from bippop.web.tenant_settings import REQUEST_SESSION


def provide_site(request: Request) -> Site:
    site: Site = request.state.site
    return site


async def provide_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session scoped to the request's tenant (or to nothing on platform hosts)."""
    site: Site | None = request.state.get("site")
    tenant = site.tenant if site else None
    factories = request.app.state.cluster_sessions
    factory = factories[tenant.cluster] if tenant is not None else request.app.state.session_factory
    # The app's settings travel with the session: what a service writes (messages' links) uses these.
    async with factory(info={"tenant": tenant, "settings": request.app.state.settings}) as session:
        request.scope["state"][REQUEST_SESSION] = session  # the tenant's settings are read by it too
        try:
            yield session
            await session.commit()
        except Exception:
            await session.rollback()
            raise
        finally:
            request.scope["state"].pop(REQUEST_SESSION, None)
