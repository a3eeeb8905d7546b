"""Error pages: a person sees a calm page; the logs get the tenant and request id."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Redirect

from bippop.web.drafts import DRAFT_PARAM, keep_fields, save_draft
from bippop.web.pages import render

log = structlog.get_logger("bippop.errors")


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def sign_in_location(request: Request) -> str:
    """Where to send someone who must sign in first: the sign-in page, then back here; a form they
    were sending when their session ended waits as a draft and comes back filled in."""
    from bippop.accounts.auth import scope_id

    target = request.url.path
    scope = scope_id(request)
    if request.method == "POST" and scope is not None:
        form = await request.form()
        fields = keep_fields(form)
        if fields:
            draft = await save_draft(request.app.state.redis, scope, target, fields)
            target = f"{target}?{urlencode({DRAFT_PARAM: draft})}"
    elif request.url.query:
        target = f"{target}?{request.url.query}"
    query = {"next_url": target}
    if request.method == "POST":
        query["expired"] = "1"
    return "/connexion?" + urlencode(query)


def _sign_in_first(request: Request, exc: NotAuthorizedException) -> Response[Any] | None:
    location = (exc.extra or {}).get("location") if isinstance(exc.extra, dict) else None
    if not location or request.state.get("site") is None:
        return None
    if request.headers.get("hx-request"):
        return Response("", status_code=204, headers={"HX-Redirect": location})
    if _wants_html(request):
        return Redirect(location, status_code=303)
    return None


def http_error_page(request: Request, exc: HTTPException) -> Response[Any]:
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


def unexpected_error_page(request: Request, exc: Exception) -> Response[Any]:
    # The request id and tenant are bound in the log context by the middleware.
    log.error("unexpected_error", error_type=type(exc).__name__, exc_info=exc)
    if _wants_html(request):
        try:
            return render(request, "error.html", {"status": 500}, status_code=500)
        except Exception:
            log.exception("error_page_failed")
    return Response(
        {"status_code": 500, "detail": "Internal Server Error"}, status_code=500, media_type=MediaType.JSON
    )
