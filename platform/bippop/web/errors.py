"""Error pages: a person sees a calm page; the logs get the tenant and request id.

Failures nobody can fix on the spot get their own calm answer instead of a 500: PostgreSQL or Redis
cannot be reached (503, quickly: the engine's timeouts are short), and a form or query holding an
invisible character that no field check caught (400).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
)
from litestar.response import Redirect
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc

from bippop.tenants.naming import InvalidName
from bippop.tenants.resolution import SiteKind, request_hostname
from bippop.web.action_pages import normalized, page_of_path
from bippop.web.drafts import DRAFT_COOKIE, DRAFT_PARAM, DRAFT_SECONDS, NOTHING_TO_KEEP, keep_draft
from bippop.web.forms import request_has_invisible_characters
from bippop.web.pages import render
from bippop.web.scope import scope_id

log = structlog.get_logger("bippop.errors")


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _form_page(request: Request) -> str:
    """The page that showed the form being sent: the same-host Referer (a form often posts to an
    action path that has no page of its own), else the path posted to."""
    from bippop.web.pages import safe_next

    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.headers.get("host") and referer.path:
        path = safe_next(referer.path)
        if path != "/" or referer.path == "/":
            return path
    return request.url.path


async def sign_in_location(request: Request) -> tuple[str, str | None]:
    """Where to send someone who must sign in first: the sign-in page, then back to the page of the form
    they were sending when their session ended, which comes back filled in. Returns the location and,
    when a draft was kept, the secret that ties it to this browser (a cookie)."""
    target = request.url.path
    draft = NOTHING_TO_KEEP
    scope = scope_id(request)
    if request.method == "POST" and scope is not None:
        target = _form_page(request)
        draft = await keep_draft(request, scope, target)
        if draft.draft_id:
            target = f"{target}?{urlencode({DRAFT_PARAM: draft.draft_id})}"
    elif request.url.query:
        target = f"{target}?{request.url.query}"
    query = {"next_url": target}
    if request.method == "POST":
        # "lost": the form was too big, or too many were kept lately; the page says to type it again.
        query["expired"] = "lost" if draft.lost else "1"
    return "/connexion?" + urlencode(query), draft.owner


def _sign_in_first(request: Request, exc: NotAuthorizedException) -> Response[Any] | None:
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    location = extra.get("location")
    if not location or request.state.get("site") is None:
        return None
    response: Response[Any]
    if request.headers.get("hx-request"):
        response = Response("", status_code=204, headers={"HX-Redirect": location})
    elif _wants_html(request):
        response = Redirect(location, status_code=303)
    else:
        return None
    if extra.get("draft_owner"):
        response.set_cookie(
            DRAFT_COOKIE,
            extra["draft_owner"],
            max_age=DRAFT_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.env == "production",
        )
    return response


def _site_kind(request: Request) -> SiteKind | None:
    """The kind of site asked for (the router refused before host resolution ran)."""
    try:
        return request.app.state.resolver.kind_of(request_hostname(request.scope))
    except InvalidName:
        return None


def http_error_page(request: Request, exc: HTTPException) -> Response[Any]:
    if isinstance(exc, MethodNotAllowedException) and request.method == "GET":
        # A GET of an action URL (a form's target: a reload, a bookmark, a language link) shows its page;
        # never the address asked for itself (a redirect to it would loop). HEAD keeps its 405.
        page = page_of_path(request.app, request.url.path, site_kind=_site_kind(request))
        if page is not None and page.split("?")[0] != normalized(request.url.path):
            return Redirect(page, status_code=303)
        exc = NotFoundException()
    if isinstance(exc, NotAuthorizedException):
        redirect = _sign_in_first(request, exc)
        if redirect is not None:
            return redirect
    if exc.status_code >= 500:
        log.error("http_error", status=exc.status_code, detail=exc.detail)
    if _wants_html(request) and request.state.get("site") is not None:
        context = {"status": exc.status_code, "detail": exc.detail if exc.status_code == 403 else ""}
        return render(request, "error.html", context, status_code=exc.status_code)
    return Response(
        {"status_code": exc.status_code, "detail": exc.detail},
        status_code=exc.status_code,
        media_type=MediaType.JSON,
        headers=exc.headers,
    )


# SQLSTATE classes of a server that cannot take work: connection exceptions, insufficient resources
# (too many connections), operator intervention (shutdown, restart), system errors.
UNREACHABLE_SQLSTATES = ("08", "53", "57P", "58")


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says PostgreSQL cannot be reached, rather than a bug."""
    current: BaseException | None = exc
    for _depth in range(5):
        if current is None:
            return False
        if isinstance(current, sa_exc.InterfaceError | sa_exc.TimeoutError | sa_exc.DisconnectionError):
            return True
        if isinstance(current, psycopg.InterfaceError):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError | psycopg.OperationalError):
            original = getattr(current, "orig", None) or current
            state = getattr(original, "sqlstate", None)
            return state is None or str(state).startswith(UNREACHABLE_SQLSTATES)
        current = current.__cause__
    return False


def _calm_page(
    request: Request, status: int, detail: str, *, headers: dict[str, str] | None = None
) -> Response[Any]:
    if _wants_html(request):
        try:
            response = render(request, "error.html", {"status": status, "detail": detail}, status_code=status)
            response.headers.update(headers or {})
            return response
        except Exception as exc:  # the page itself may need what is missing
            log.warning("error_page_failed", error_type=type(exc).__name__)
    return Response(
        {"status_code": status, "detail": detail},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def unexpected_error_page(request: Request, exc: Exception) -> Response[Any]:
    # The request id and tenant are bound in the log context by the middleware.
    if database_unreachable(exc):
        # One line per request, no traceback: while the server is down every page fails the same way.
        log.warning("database_unavailable", error_type=type(exc).__name__)
        return _calm_page(request, 503, "database_unavailable", headers={"Retry-After": "30"})
    if request_has_invisible_characters(request.scope):
        log.warning("invisible_characters_refused", error_type=type(exc).__name__)
        return _calm_page(request, 400, "invisible_characters")
    log.error("unexpected_error", error_type=type(exc).__name__, exc_info=exc)
    return _calm_page(request, 500, "Internal Server Error")


def redis_unavailable_page(request: Request, exc: RedisError) -> Response[Any]:
    """Redis full (``maxmemory`` with ``noeviction`` refuses writes rather than drop sessions or jobs)
    or unreachable: nobody can fix it from the page, so a calm 503, and the operator is told."""
    # Said the same way whether the refused write was a command or inside a script.
    full = "used memory > 'maxmemory'" in str(exc)
    log.error("redis_unavailable", error_type=type(exc).__name__, out_of_memory=full)
    return _calm_page(request, 503, "redis_unavailable", headers={"Retry-After": "30"})
