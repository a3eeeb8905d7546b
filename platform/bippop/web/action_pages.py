"""The page an action URL belongs to. A form posts to an action path (``…/fait``, ``…/annuler``) that
has no page of its own: a GET of it (a bookmark, a reload, the language link of a page shown after a
refused form) goes to its page instead of a bare ``405``.

A route may name its page in ``opt={"page": …}``: a path with its path parameters in braces
(``"/benevole/rendez-vous/{appointment_id}/compte-rendu"``), or a function of the path parameters that
returns the page, or ``None`` when no such action exists (a 404). Otherwise the page is the nearest
parent path that answers a GET (``/coordination/taches/<id>/fait`` → ``/coordination/taches``), and
the home page when none does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Litestar, Request

from bippop.tenants.resolution import SiteKind, serves

PAGE_OPT = "page"
CATCH_ALL = "not-found"  # the themed 404 route answers every GET: it is nobody's page


def _get_handler(app: Litestar, path: str) -> Any:
    """The GET handler serving ``path`` (not the catch-all 404), or ``None``."""
    try:
        handler = app.asgi_router.handle_routing(path=path, method="GET")[1]
    except Exception:  # no route, or no GET on it: the router says so by raising
        return None
    return None if handler.name == CATCH_ALL else handler


NO_PAGE = object()  # the route names no page: look for its parent


def _declared_page(app: Litestar, path: str, method: str, site_kind: SiteKind | None) -> object:
    """The page the action route at ``path`` names in its ``opt`` (``None``: no such action, or
    not on this kind of site: the wizard's actions are no tenant's)."""
    try:
        _asgi, handler, _path, params, _template = app.asgi_router.handle_routing(path=path, method=method)
    except Exception:  # not an action of this app
        return NO_PAGE
    if site_kind is not None and not serves(handler.opt, site_kind):
        return None
    page = handler.opt.get(PAGE_OPT, NO_PAGE)
    if isinstance(page, str):
        return page.format(**params)
    return page(params) if callable(page) else page


def normalized(path: str) -> str:
    """One slash between segments, none doubled: ``//host/…`` would send the browser to another site."""
    return "/" + "/".join(part for part in path.split("/") if part)


def page_of_path(
    app: Litestar, path: str, method: str = "POST", site_kind: SiteKind | None = None
) -> str | None:
    """The page that shows the form of the action ``path`` (``path`` itself when it is a page);
    ``None`` when the route says there is no such action, or does not answer on ``site_kind``."""
    path = normalized(path)
    if _get_handler(app, path) is not None:
        return path
    declared = _declared_page(app, path, method, site_kind)
    if declared is not NO_PAGE:
        return declared if isinstance(declared, str) else None
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        parent = "/".join(parts) or "/"
        if _get_handler(app, parent) is not None:
            return parent
    return "/"


def page_of(request: Request) -> str:
    """Where this page's links come back to (the language switch, sign in again): a page's own path
    and query (without ``lang``), or, for a page shown after a refused form, the form's page."""
    if request.method not in ("GET", "HEAD"):
        return page_of_path(request.app, request.url.path, request.method) or "/"
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + (f"?{urlencode(query)}" if query else "")
