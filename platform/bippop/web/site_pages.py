"""Pages that several kinds of site serve on one path: Litestar has one handler per path and method, so
``/`` (every site), ``/contact`` (tenants and the public site) and the sign-in paths (tenants, the co-op
console and the public site) each have one handler that asks
this registry for the page of the request's site kind.

The registry is filled at assembly (``bippop.assembly.wire_site_pages``, called by ``create_app``), never
by an import's side effect: the web kit names no domain, the domains above it register their pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

# A shared path's page for one site kind: the request, its session, and the form sent (empty for a GET).
SitePage = Callable[[Request[Any, Any, Any], AsyncSession, dict[str, Any]], Awaitable[Response[Any]]]

HOME = "home"
SIGN_IN_FORM = "sign_in_form"
SIGN_IN = "sign_in"
CODE_FORM = "code_form"
CODE = "code"
SIGN_OUT = "sign_out"
CONTACT = "contact"  # a tenant's town hall contact; the public site's form to the co-op
CONTACT_SEND = "contact_send"  # that form, sent (POST /contact: the public site only)
SIGN_UP_FORM = "sign_up_form"  # GET /inscription: a resident's sign-up; on the public site, the wizard
PAGES = frozenset(
    {HOME, SIGN_IN_FORM, SIGN_IN, CODE_FORM, CODE, SIGN_OUT, CONTACT, CONTACT_SEND, SIGN_UP_FORM}
)

_pages: dict[tuple[str, str], SitePage] = {}


def register_site_pages(site_kind: str, pages: Mapping[str, SitePage]) -> None:
    """The pages ``site_kind`` serves on shared paths; registering again replaces them (one app per test)."""
    unknown = set(pages) - PAGES
    if unknown:
        raise KeyError(f"unknown shared pages {sorted(unknown)}: add them to site_pages.PAGES")
    for page, handler in pages.items():
        _pages[(page, site_kind)] = handler


def site_page(page: str, site_kind: str) -> SitePage | None:
    """The page ``site_kind`` registered for ``page``, or None (the path's own handler serves it)."""
    return _pages.get((page, site_kind))
