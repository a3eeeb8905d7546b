"""Error pages: a person sees a calm page; the logs get the tenant and request id."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Redirect

from bippop.web.drafts import DRAFT_COOKIE, DRAFT_PARAM, DRAFT_SECONDS, keep_fields, save_draft
from bippop.web.pages import render

log = structlog.get_logger("bippop.errors")


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _form_page(request: Request) -> str:
    """The page that showed the form being sent: the same-host Referer (a form often posts to an
    action path that has no page of its own), else the path posted to."""
    from bippop.web.pages import _safe_next

    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.headers.get("host") and referer.path:
        path = _safe_next(referer.path)
        if path != "/" or referer.path == "/":
            return path
    return request.url.path


async def sign_in_location(request: Request) -> tuple[str, str | None]:
    """Where to send someone who must sign in first: the sign-in page, then back to the page of the form
    they were sending when their session ended, which comes back filled in. Returns the location and,
    when a draft was kept, the secret that ties it to this browser (a cookie)."""
    from bippop.accounts.auth import scope_id

    target = request.url.path
    owner = None
    scope = scope_id(request)
    if request.method == "POST" and scope is not None:
        form = await request.form()
        fields = keep_fields(form)
        target = _form_page(request)
        if fields:
            draft, owner = await save_draft(request.app.state.redis, scope, target, fields)
            target = f"{target}?{urlencode({DRAFT_PARAM: draft})}"
    elif request.url.query:
        target = f"{target}?{request.url.query}"
    query = {"next_url": target}
    if request.method == "POST":
        query["expired"] = "1"
    return "/connexion?" + urlencode(query), owner


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
