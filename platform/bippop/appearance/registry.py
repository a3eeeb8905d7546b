"""The request's tenant row, changed through the tenant registry (``TenantService``) from the web process.

The registry is synchronous and writes ``platform.tenants``/``platform.domains``, which the tenant's own
database role cannot reach: it runs in a platform transaction of its own (the app's login role, which may
update a tenant's name, theme and branding and manage its domains), through ``run_sync``. The hosts it
names are cleared from the shared host cache once that transaction is committed, so the next request on
any of them (any web process) reads the new tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from litestar import Request
from litestar.exceptions import NotFoundException
from sqlalchemy.orm import Session

from bippop.config import Settings
from bippop.tenants.cache import AsyncHostCache, PendingInvalidations
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Tenant
from bippop.tenants.services import TenantService
from bippop.web.deps import tenant_of

T = TypeVar("T")


class TenantRegistry:
    """The registry as one tenant's administrator reaches it: only that tenant's row and domains."""

    def __init__(self, settings: Settings, session_factory: Any, cache: AsyncHostCache, tenant: TenantRef):
        self.settings = settings
        self.session_factory = session_factory
        self.cache = cache
        self.tenant = tenant

    @classmethod
    def of(cls, request: Request[Any, Any, Any]) -> TenantRegistry:
        state = request.app.state
        return cls(state.settings, state.session_factory, state.resolver.cache, tenant_of(request))

    async def read(self, look: Callable[[Tenant], T]) -> T:
        """What ``look`` reads of the tenant's row (its domains, say), from the platform schema."""
        return await self._run(lambda _service, tenant: look(tenant), write=False)

    async def change(self, change: Callable[[TenantService, Tenant], T]) -> T:
        """``change`` in a committed platform transaction, then the tenant's hosts cleared from the host
        cache. A ``TenantError`` it raises rolls it back."""
        return await self._run(change, write=True)

    async def _run(self, change: Callable[[TenantService, Tenant], T], *, write: bool) -> T:
        pending = PendingInvalidations()
        tenant_id, base_domain = self.tenant.id, self.settings.base_domain

        def run(session: Session) -> T:
            service = TenantService(session, base_domain=base_domain, host_cache=pending)
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFoundException()
            return change(service, tenant)

        async with self.session_factory(info={"settings": self.settings}) as session:
            result = await session.run_sync(run)
            if write:
                await session.commit()
        if write:
            await self.cache.invalidate(pending.hosts)
        return result
