"""Anonymous pages kept rendered for a few seconds, in this process: a visitor's home page costs no
query and no template once it was made.

- **Only what is the same for every visitor.** A GET or HEAD without a query string, from someone not
  signed in, not an htmx request; the page itself carries no CSRF token (``web.pages.CsrfToken``: a
  page with a form is never kept) and sets no cookie.
- **The key is everything the page depends on**: the tenant as host resolution gave it (its name,
  theme, branding and status: a change of branding invalidates the host cache, so the next request
  brings a new key), its settings (modules switched on, published, default language: a change bumps
  their generation, same), the page's language and the visitor's display choices (text size…).
  What is left — the count of volunteers on the home page — is at most
  ``BIPPOP_PAGE_CACHE_SECONDS`` old (10 s; 0 keeps nothing), or twice that while it is made again.
- **Made again by one request**: when a kept page expires, the first request to ask makes it again
  and, for up to ``REFRESH_SECONDS`` meanwhile, the others still get the expired one — not every
  visitor of that moment rendering the same page at once (the latency spike of a busy portal each
  time its page expired). A page expired longer than its time to live is given to nobody.
- **Bounded**: the ``MAX_ENTRIES`` most recently used pages, whatever the number of tenants (about
  6 KB each: a few MB at most), like the host lookups each process keeps a second
  (``tenants.cache``, 4,096 hosts).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from bippop.tenants.cache import encode
from bippop.tenants.resolution import Site
from bippop.web import i18n
from bippop.web.display import display_choices, html_classes
from bippop.web.pages import CSRF_TOKEN_USED
from bippop.web.tenant_settings import TenantSettings, tenant_settings

SECONDS = 10.0
MAX_ENTRIES = 512
REFRESH_SECONDS = 2.0  # the expired page is given meanwhile; past this, the next request makes it
CACHED_HEADER = "x-bippop-page-cache"  # hit | miss: lets an operator (and the tests) see it work
KEPT_PAGE_OPT = "kept_page"  # a route's opt: the name its page is kept under (the home page: "home")


@dataclasses.dataclass(slots=True)
class _Entry:
    html: str
    expires: float
    refreshing_until: float = 0.0  # a request makes the page again: the others get this one meanwhile


class PageCache:
    """A small LRU of rendered pages with a time to live (thread-safe: sync handlers run in threads)."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        seconds: float = SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries, self.seconds, self.clock = max_entries, seconds, clock
        self._entries: collections.OrderedDict[Hashable, _Entry] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        """The kept page, or None: the caller makes it (and ``put``s it). Past its time, the first caller
        gets None and the next ones, for ``REFRESH_SECONDS``, the expired page."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            now = self.clock()
            if entry.expires <= now:
                if now >= entry.expires + self.seconds:
                    del self._entries[key]  # too old to give anyone
                    return None
                if now >= entry.refreshing_until:
                    entry.refreshing_until = now + REFRESH_SECONDS
                    return None  # this caller makes it again
            self._entries.move_to_end(key)
            return entry.html

    def put(self, key: Hashable, html: str) -> None:
        if self.seconds <= 0:
            return  # BIPPOP_PAGE_CACHE_SECONDS=0: nothing is kept
        with self._lock:
            self._entries[key] = _Entry(html, self.clock() + self.seconds)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def anonymous_key(request: Request[Any, Any, Any], page: str, settings: TenantSettings) -> Hashable | None:
    """The cache key of ``page`` for this request, or None when the page may not be kept for it."""
    if request.method not in ("GET", "HEAD") or request.scope.get("query_string"):
        return None
    if request.scope["state"].get("identity") is not None or request.headers.get("hx-request"):
        return None
    site: Site | None = request.scope["state"].get("site")
    if site is None or site.tenant is None:
        return None
    locale = i18n.pick_locale(None, request.cookies.get(i18n.LOCALE_COOKIE), settings.default_locale)
    display = html_classes(display_choices(request.cookies))
    return (page, site.fingerprint or encode(site.tenant), settings, locale, display)


def cache_of(request: Request[Any, Any, Any]) -> PageCache:
    cache: PageCache = request.app.state.page_cache
    return cache


def keep(request: Request[Any, Any, Any], key: Hashable, response: Response[Any]) -> Response[Any]:
    """Keep ``response`` under ``key`` when it is a plain 200 page that carries no CSRF token and sets
    no cookie; returns it (marked as a miss)."""
    used_token = request.scope["state"].get(CSRF_TOKEN_USED)
    if (
        response.status_code == 200
        and not response.cookies
        and not used_token
        and isinstance(response.content, str)
    ):
        cache_of(request).put(key, response.content)
    response.headers[CACHED_HEADER] = "miss"
    return response


class KeptPagesMiddleware(ASGIMiddleware):
    """After host resolution and the identity: a kept page is sent from here, without the CSRF
    middleware, the dependencies or the handler (the route's ``opt["kept_page"]`` names it). The
    conditions and the key are ``anonymous_key``'s, the handler's own; a miss goes on to the handler,
    which keeps what it renders (``keep``)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        page = scope["route_handler"].opt.get(KEPT_PAGE_OPT)
        site: Site | None = scope["state"].get("site")
        if page is None or site is None or site.tenant is None or scope["state"].get("identity") is not None:
            await next_app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = Request(scope, receive)
        key = anonymous_key(request, page, await tenant_settings(request))
        html = cache_of(request).get(key) if key is not None else None
        if html is None:
            await next_app(scope, receive, send)
            return
        body = html.encode()
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"vary", b"HX-Request, Cookie"),
                (CACHED_HEADER.encode(), b"hit"),
            ],
        }
        await send(start)
        sent: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"" if request.method == "HEAD" else body,
            "more_body": False,
        }
        await send(sent)
