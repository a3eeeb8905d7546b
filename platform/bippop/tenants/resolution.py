"""Host resolution: ``Host`` header → site (public, co-op console, or a tenant).

- ``<base>`` and ``www.<base>``: the public site and onboarding wizard;
- ``coop.<base>``: the co-operative's console;
- ``<slug>.<base>``: a tenant by slug; any other host: a tenant's custom domain.

An unknown host gets a plain 404 that names no tenant. Each route declares the
sites it serves in ``opt["sites"]`` (default: tenant only); a route asked for on
another kind of site is a 404 too, so tenant pages never answer on the co-op host.
A ``Host`` header that is not exactly ``hostname[:port]`` (user info, spaces, slashes,
control characters, two ports, two headers) is a plain 400 before any lookup. Links
the platform writes never come from this header: see ``tenants/urls.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bippop.tenants.cache import AsyncHostCache, encode
from bippop.tenants.context import TenantRef, tenant_scope
from bippop.tenants.models import Domain, Tenant
from bippop.tenants.naming import SLUG_PATTERN, InvalidName, hostname_from_header

log = structlog.get_logger(__name__)

SiteKind = Literal["public", "coop", "tenant"]
ANY_SITE = "any"
DEFAULT_SITES: tuple[SiteKind, ...] = ("tenant",)


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    kind: SiteKind
    tenant: TenantRef | None = None
    # The tenant as the host cache holds it (its JSON): changes whenever anything of the tenant does.
    fingerprint: str = ""
    # The tenant's settings copy and its generation, read with the host (``web.tenant_settings``).
    settings_copy: tuple[Any, Any] | None = None


class HostResolver:
    def __init__(self, base_domain: str, engine: AsyncEngine, cache: AsyncHostCache) -> None:
        self.base_domain = base_domain
        self.engine = engine
        self.cache = cache

    def kind_of(self, hostname: str) -> SiteKind:
        """The kind of site ``hostname`` would be, without looking a tenant up (any other host is a
        tenant's or nobody's)."""
        base = self.base_domain
        if hostname in (base, f"www.{base}"):
            return "public"
        if hostname == f"coop.{base}":
            return "coop"
        return "tenant"

    async def resolve(self, hostname: str) -> Site | None:
        kind = self.kind_of(hostname)
        if kind != "tenant":
            return Site(kind)
        found = await self.cache.lookup(hostname)
        if found.found:
            tenant = found.tenant
            return Site("tenant", tenant, found.fingerprint, found.settings_copy) if tenant else None
        tenant = await self._lookup(hostname)
        await self.cache.put(hostname, tenant)
        return Site("tenant", tenant, encode(tenant)) if tenant is not None else None

    async def _lookup(self, hostname: str) -> TenantRef | None:
        suffix = "." + self.base_domain
        async with AsyncSession(self.engine) as session:
            if hostname.endswith(suffix):
                slug = hostname[: -len(suffix)]
                if not SLUG_PATTERN.fullmatch(slug):
                    return None
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            else:
                tenant = await session.scalar(
                    select(Tenant)
                    .join(Domain, Domain.tenant_id == Tenant.id)
                    .where(Domain.hostname == hostname, Domain.verified_at.is_not(None))
                )
            return tenant.ref() if tenant is not None else None


def serves(handler_opt: dict[str, object], kind: SiteKind) -> bool:
    """Whether a route with these ``opt`` answers on a site of this kind."""
    sites = handler_opt.get("sites", DEFAULT_SITES)
    return sites == ANY_SITE or kind in sites  # type: ignore[operator]


def request_hostname(scope: Scope) -> str:
    """The host name of the request's one ``Host`` header (else the server's address); InvalidName
    unless it is exactly ``hostname[:port]``, so that nothing downstream sees a forged one."""
    values = [value for name, value in scope.get("headers", ()) if name == b"host"]
    if len(values) > 1:
        raise InvalidName("more than one Host header")
    if values:
        return hostname_from_header(values[0].decode("latin-1"))
    server = scope.get("server")
    return hostname_from_header(server[0] if server else "")


async def plain_response(send: Send, status: int, body: str) -> None:
    payload = body.encode()
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
        ],
    }
    await send(start)
    body_event: HTTPResponseBodyEvent = {"type": "http.response.body", "body": payload, "more_body": False}
    await send(body_event)


# Answers for a tenant that is not active (suspended, closing): the web layer's calm page.
InactiveTenantPage = Callable[[Scope, Receive, Send, TenantRef], Awaitable[None]]


class HostResolutionMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, inactive_page: InactiveTenantPage) -> None:
        # Passed in by the app: the page is rendered by `web`, which sits above the tenancy core.
        self.inactive_page = inactive_page

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        sites = scope["route_handler"].opt.get("sites", DEFAULT_SITES)
        if sites == ANY_SITE:
            await next_app(scope, receive, send)
            return
        try:
            hostname = request_hostname(scope)
        except InvalidName:
            await plain_response(send, 400, "Bad Request: invalid Host header")
            return
        resolver: HostResolver = scope["litestar_app"].state.resolver
        site = await resolver.resolve(hostname)
        if site is None or site.kind not in sites:
            await plain_response(send, 404, "Not Found")
            return
        scope["state"]["site"] = site
        scope["state"]["hostname"] = hostname
        structlog.contextvars.bind_contextvars(tenant=site.tenant.slug if site.tenant else site.kind)
        if (
            site.tenant is not None
            and not site.tenant.is_active
            and not scope["route_handler"].opt.get("inactive_ok")
        ):
            await self.inactive_page(scope, receive, send, site.tenant)
            return
        with tenant_scope(site.tenant):
            await next_app(scope, receive, send)
