"""Issue 13: nothing on a request's path is handed to a thread without need. Litestar runs a plain
function guard (and a sync dependency or handler marked ``sync_to_thread``) in its thread pool, on every
request it applies to: the app-wide CSRF guard did, and took a tenth of ``/healthz``'s CPU."""

from __future__ import annotations

from litestar import Litestar
from litestar.utils.sync import AsyncCallable

from bippop.app import create_app
from bippop.config import Settings


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
