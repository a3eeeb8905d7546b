"""Issue 13: nothing on a request's path is handed to a thread without need. Litestar runs a plain
function guard (and a sync dependency or handler marked ``sync_to_thread``) in its thread pool, on every
request it applies to: the app-wide CSRF guard did, and took a tenth of ``/healthz``'s CPU."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from litestar.utils.sync import AsyncCallable
from sqlalchemy import event

from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import host, log_in, make_person


def _handlers(app: Litestar) -> list[object]:
    return [handler for route in app.routes for handler in getattr(route, "route_handlers", ())]


def test_no_guard_runs_in_a_thread(settings: Settings) -> None:
    app = create_app(settings)
    threaded = {
        (str(handler), getattr(guard, "func", guard))
        for handler in _handlers(app)
        for guard in handler.resolve_guards()  # type: ignore[attr-defined]
        if isinstance(guard, AsyncCallable)
    }
    assert not threaded, threaded


def test_the_hot_pages_run_on_the_event_loop(settings: Settings) -> None:
    """The pages measured by the benchmark: no handler or dependency of theirs goes to a thread."""
    app = create_app(settings)
    hot = {
        "/healthz",
        "/",
        "/connexion",
        "/benevole",
        "/coordination/demandes",
        "/coordination/appel/personnes",
    }
    seen = set()
    for route in app.routes:
        if route.path not in hot:
            continue
        for handler in getattr(route, "route_handlers", ()):
            if "GET" not in (handler.http_methods or ()):
                continue
            seen.add(route.path)
            assert not (handler.has_sync_callable and handler.sync_to_thread), handler
            for name, provide in handler.resolve_dependencies().items():
                assert not (provide.has_sync_callable and provide.sync_to_thread), (handler, name)
    assert seen == hot


def test_a_form_answered_with_its_errors_holds_one_connection(
    settings: Settings, tenant: TenantRef, resources: PlatformResources
) -> None:
    """A POST reads the tenant's settings from the table: through the request's own session, not a
    second one holding a second pooled connection beside it (as many such requests at once as the pool
    has connections would each wait for another)."""
    app = create_app(settings)
    _id, email, _secret = make_person(resources, tenant, ["beneficiary"])
    with TestClient(app, base_url="http://bippop.test") as web:
        log_in(web, tenant.slug, email)
        token = web.cookies.get("csrftoken")
        held, most = [0], [0]

        def out(*_args: object) -> None:
            held[0] += 1
            most[0] = max(most[0], held[0])

        def back(*_args: object) -> None:
            held[0] -= 1

        event.listen(app.state.engine.sync_engine, "checkout", out)
        event.listen(app.state.engine.sync_engine, "checkin", back)
        # Not ticked: the page again with its message, after the handler read the person.
        refused = web.post("/devenir-benevole", data={"_csrf_token": token}, headers=host(tenant.slug))
        assert refused.status_code == 400 and 'name="accept"' in refused.text
        assert most[0] == 1


def test_the_settings_are_read_beside_a_failed_flush(settings: Settings, tenant: TenantRef) -> None:
    """A request whose session holds a failed flush (not rolled back yet) still gets its settings: from a
    session of their own, as before."""
    import asyncio

    import pytest
    from sqlalchemy.exc import IntegrityError

    from bippop.tenants.resolution import Site
    from bippop.tenants.tenant_settings import Setting
    from bippop.web.tenant_settings import REQUEST_SESSION, TenantSettings, tenant_settings

    app = create_app(settings)

    class Posted:
        def __init__(self, session: object) -> None:
            self.app = app
            self.scope = {
                "method": "POST",
                "state": {"site": Site("tenant", tenant), REQUEST_SESSION: session},
            }

    async def run() -> TenantSettings:
        async with (
            app.lifespan(),
            app.state.cluster_sessions[tenant.cluster](info={"tenant": tenant}) as session,
        ):
            session.add_all([Setting(key="same", value=1), Setting(key="same", value=2)])
            with pytest.raises(IntegrityError):
                await session.flush()
            found = await tenant_settings(Posted(session))  # type: ignore[arg-type]
            await session.rollback()
        return found

    assert isinstance(asyncio.run(run()), TenantSettings)
