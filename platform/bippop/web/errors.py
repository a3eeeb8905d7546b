"""Error pages: a person sees a calm page; the logs get the tenant and request id."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException

from bippop.web.pages import render

log = structlog.get_logger("bippop.errors")


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def http_error_page(request: Request, exc: HTTPException) -> Response[Any]:
    if exc.status_code >= 500:
        log.error("http_error", status=exc.status_code, detail=exc.detail)
    if _wants_html(request) and request.state.get("site") is not None:
        return render(request, "error.html", {"status": exc.status_code}, status_code=exc.status_code)
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
