"""``create_app()``: the one Litestar application, for every host (public site, co-op console, tenants)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar_htmx import HTMXPlugin
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bippop import __version__, clock
from bippop.accounts.admin import ADMIN_CONTROLLERS
from bippop.accounts.auth import IdentityMiddleware, csrf_bound_to_session, secure_cookies
from bippop.accounts.controllers import ACCOUNT_CONTROLLERS
from bippop.accounts.permissions import Requires, unknown_actions
from bippop.accounts.rate_limits import RateLimiter
from bippop.accounts.sso import SsoController
from bippop.aid.calendar import CalendarFeedController
from bippop.aid.coordination import COORDINATION_CONTROLLERS
from bippop.aid.impact import ImpactController
from bippop.aid.portal import PORTAL_CONTROLLERS
from bippop.appearance import APPEARANCE_CONTROLLERS
from bippop.assembly import wire_site_pages
from bippop.billing.portal import BILLING_PORTAL_CONTROLLERS
from bippop.broker import build_broker, configure_broker
from bippop.collectivities import store as collectivities_store
from bippop.config import MAIN_CLUSTER, Settings, get_settings
from bippop.db.engine import async_session_factory, make_async_engine
from bippop.deps import provide_db_session, provide_site
from bippop.health import healthz, readyz
from bippop.legal import LEGAL_CONTROLLERS
from bippop.modules import registry as module_registry
from bippop.modules.assembly import module_routers
from bippop.modules.assembly import prepare as prepare_modules
from bippop.notifications.controllers import DevOutboxController
from bippop.observability import RequestLogMiddleware, configure_logging
from bippop.onboarding.first_steps import FirstStepsController
from bippop.storage import storage_from_settings
from bippop.tenants.cache import AsyncHostCache
from bippop.tenants.resolution import HostResolutionMiddleware, HostResolver
from bippop.web.display_pages import DisplayController
from bippop.web.errors import http_error_page, redis_unavailable_page, unexpected_error_page
from bippop.web.page_cache import KeptPagesMiddleware, PageCache
from bippop.web.pages import PagesController, render_unavailable
from bippop.web.security import SecurityHeadersMiddleware
from bippop.web.templates import ThemeEngines

REQUEST_MAX_BODY_BYTES = 1024 * 1024


async def open_resources(app: Litestar) -> None:
    """The process's connections, opened at startup: database pools (one per cluster), Redis, the host
    resolver, file storage, the rate limiter and the broker pages enqueue their jobs on."""
    settings: Settings = app.state.settings
    engine = make_async_engine(settings)
    redis = Redis.from_url(settings.redis_url or "", socket_timeout=3, socket_connect_timeout=3)
    app.state.engine = engine
    app.state.redis = redis
    app.state.session_factory = async_session_factory(engine)
    # One pool per PostgreSQL cluster; a tenant's requests go to the cluster that holds it.
    app.state.cluster_engines = {
        name: engine if name == MAIN_CLUSTER else make_async_engine(settings, cluster=name)
        for name in settings.cluster_urls()
    }
    app.state.cluster_sessions = {
        name: async_session_factory(cluster) for name, cluster in app.state.cluster_engines.items()
    }
    app.state.resolver = HostResolver(
        settings.base_domain,
        engine,
        AsyncHostCache(redis, settings.host_cache_seconds, settings.host_cache_local_seconds),
    )
    app.state.storage = storage_from_settings(settings)
    app.state.rate_limiter = RateLimiter(settings.redis_url or "")
    configure_broker(build_broker(settings))
    # The official list takes about a second to load: loaded now, in a thread, not by the first search.
    threading.Thread(target=_load_collectivities, name="collectivities", daemon=True).start()
    # What start-up built (routes, templates, modules: ~300,000 objects) lives as long as the process:
    # out of the collector's sight, a full collection no longer stalls every request for 200 ms. Once
    # per process: a process that builds app after app (the tests) would pin each one's garbage.
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _load_collectivities() -> None:
    """The official list (~500,000 objects kept as long as the process), then out of the collector's
    sight like what start-up built: a full collection walking it stalled requests ~40 ms (p99)."""
    if collectivities_store.loaded():
        return
    collectivities_store.catalogue()
    gc.freeze()


async def close_resources(app: Litestar) -> None:
    await app.state.redis.aclose()
    for cluster in app.state.cluster_engines.values():
        await cluster.dispose()


def route_handlers(settings: Settings, templates: ThemeEngines) -> list[Any]:
    """Every page of every domain, then each installed module's (behind its "switched on" guard)."""
    static_routers = [
        create_static_files_router(
            path=f"/static/{theme}",
            directories=[str(p) for p in templates.static_dirs(theme)],
            name=f"static-{theme}",
            opt={"sites": "any", "exclude_from_csrf": True},  # files: no form, no CSRF cookie
            include_in_schema=False,
        )
        for theme in templates.environments
    ]
    development_only = [DevOutboxController] if settings.is_development else []
    return [
        healthz,
        readyz,
        PagesController,
        DisplayController,
        *LEGAL_CONTROLLERS,
        *ACCOUNT_CONTROLLERS,
        *wire_site_pages(),  # shared paths' pages of each site kind, and the co-op console's controllers
        *PORTAL_CONTROLLERS,
        *ADMIN_CONTROLLERS,
        *APPEARANCE_CONTROLLERS,
        *BILLING_PORTAL_CONTROLLERS,
        FirstStepsController,
        *COORDINATION_CONTROLLERS,
        ImpactController,
        SsoController,
        CalendarFeedController,
        *module_routers(),
        *development_only,
        *static_routers,
    ]


def check_guards(app: Litestar) -> None:
    """Refuse to start with a route guarded by an action the permission matrix does not hold (a module's
    actions join the matrix at ``prepare``, after its controllers were defined)."""
    named = [
        guard.action
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        for guard in handler.resolve_guards()
        if isinstance(guard, Requires)
    ]
    unknown = unknown_actions(named)
    if unknown:
        raise RuntimeError(f"routes guarded by actions missing from the permission matrix: {unknown}")


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings)
    prepare_modules()
    templates = ThemeEngines(settings.themes_dir, extra_dirs=module_registry.template_dirs())
    app = Litestar(
        route_handlers=route_handlers(settings, templates),
        dependencies={
            "site": Provide(provide_site, sync_to_thread=False),
            "db_session": Provide(provide_db_session),
        },
        middleware=[
            SecurityHeadersMiddleware(settings),
            RequestLogMiddleware(),
            HostResolutionMiddleware(render_unavailable),
            IdentityMiddleware(),
            KeptPagesMiddleware(),  # a visitor's kept home page, sent before CSRF and the handler
        ],
        # The API description documents routes, not tenant data: served on the public site only.
        openapi_config=OpenAPIConfig(
            title="Bip Pop",
            version=__version__,
            openapi_router=Router(
                path="/schema", route_handlers=[], opt={"sites": ("public",), "public": True}
            ),
        ),
        csrf_config=CSRFConfig(
            secret=settings.effective_secret_key(),
            cookie_name="__Host-csrftoken" if secure_cookies(settings) else "csrftoken",
            cookie_secure=secure_cookies(settings),
            cookie_httponly=True,
            cookie_samesite="lax",
            header_name="x-csrftoken",
        ),
        # A signed-in request's CSRF token must be its own session's (Litestar's check is cookie = token).
        guards=[csrf_bound_to_session],
        plugins=[HTMXPlugin()],
        on_startup=[open_resources],
        on_shutdown=[close_resources],
        state=State(
            {
                "settings": settings,
                "templates": templates,
                "clock": clock.seconds,
                "page_cache": PageCache(seconds=settings.page_cache_seconds),
            }
        ),
        exception_handlers={
            HTTPException: http_error_page,
            RedisError: redis_unavailable_page,
            Exception: unexpected_error_page,
        },
        debug=False,
        logging_config=None,
        # Every form is a few KB of text and nothing is uploaded: a stranger's body is read up to 1 MB.
        request_max_body_size=REQUEST_MAX_BODY_BYTES,
    )
    check_guards(app)
    return app
