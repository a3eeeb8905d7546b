"""The first pages: the public site, the door of every site's home page (``/``, whose page for a tenant
or the co-op console is registered in ``web/site_pages.py``) and the tenant's contact fragment.

A page asked for by htmx (``HX-Request``) gets only its fragment; any other
request gets the full page, so every link works without JavaScript.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.types import Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from litestar_htmx import HTMXRequest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import __version__
from bippop.tenants.branding import css_variables
from bippop.tenants.context import TenantRef
from bippop.tenants.models import KIND_LABELS
from bippop.tenants.resolution import Site
from bippop.tenants.tenant_settings import Setting
from bippop.web import i18n
from bippop.web.action_pages import page_of
from bippop.web.display import display_choices, html_classes
from bippop.web.forms import FormData
from bippop.web.site_pages import CONTACT, CONTACT_SEND, HOME, site_page
from bippop.web.templates import ThemeEngines
from bippop.web.tenant_settings import tenant_settings

ALL_SITES = ("public", "coop", "tenant")
CSS_UNSAFE = re.compile(r"[<>{};\\]")


def _session_times(request: Request, identity: Any) -> dict[str, int] | None:
    if identity is None:
        return None
    now = request.app.state.clock()
    return {
        "warn_in": max(0, int(identity.session.warn_at() - now)),
        "expires_in": identity.seconds_left(now),
    }


def logo_src(branding: dict[str, Any]) -> str | None:
    """The tenant's logo: the one it uploaded (served at ``/logo``, versioned so a new one is fetched at
    once), else the address it gave, else none."""
    if branding.get("logo_key"):
        return f"/logo?v={branding.get('logo_version') or 0}"
    url = branding.get("logo_url")
    return str(url) if url else None


def theme_css_variables(engines: ThemeEngines, theme: str, branding: dict[str, Any]) -> dict[str, str]:
    """The theme's default colours and fonts (theme.toml), then the colours the tenant chose itself."""
    chosen = {f"--bp-{key}" for key, value in branding.items() if value}
    branded = {name: value for name, value in css_variables(branding).items() if name in chosen}
    merged = {**engines.theme_info(theme).css_variables(), **branded}
    # Written raw into <style> (font names keep their quotes): nothing that could close a rule or the tag.
    return {name: CSS_UNSAFE.sub("", value) for name, value in merged.items()}


def page_context(request: Request, site: Site | None, **extra: Any) -> dict[str, Any]:
    identity = request.scope["state"].get("identity")
    tenant = site.tenant if site else None
    engines: ThemeEngines = request.app.state.templates
    theme = engines.theme_info(tenant.theme if tenant else "base").name
    branding = tenant.branding if tenant else {}
    display = display_choices(request.cookies)
    return {
        "site": site,
        "tenant": tenant,
        "branding": branding,
        "kind_label": KIND_LABELS.get(tenant.kind, "") if tenant else "",
        "css_variables": theme_css_variables(engines, theme, branding),
        "theme_stylesheet": engines.theme_info(theme).stylesheet,
        "logo_src": logo_src(branding),
        "display": display,
        "display_classes": html_classes(display),
        "static": lambda path: f"/static/{theme}/{path}",
        "locale": i18n.current_locale.get(),
        "locale_names": i18n.LOCALE_NAMES,
        "current_path": request.url.path,
        # Where the language switch and "sign in again" come back to: after a refused form, its page.
        "page_path": page_of(request),
        "version": __version__,
        "base_domain": request.app.state.settings.base_domain,
        "csrf_token": _csrf_token(request),
        "identity": identity,
        "session_times": _session_times(request, identity),
        **extra,
    }


CSRF_TOKEN_USED = "csrf_token_used"  # noqa: S105 (a scope-state key, not a secret): scope state: the page carries the CSRF token (its cookie is needed)


class CsrfToken:
    """The request's CSRF token as a page uses it: written into the page, it marks the request, and only
    then does the response set the CSRF cookie (``accounts.auth.IdentityMiddleware``). A page without a
    form sets no cookie, so it stays the same for every visitor."""

    __slots__ = ("_state", "_token")

    def __init__(self, state: dict[str, Any], token: str) -> None:
        self._state, self._token = state, token

    def __str__(self) -> str:
        self._state[CSRF_TOKEN_USED] = True
        return self._token

    def __html__(self) -> str:  # Jinja's autoescape: a token is hexadecimal, nothing to escape
        return str(self)

    def __bool__(self) -> bool:
        return bool(self._token)


def _csrf_token(request: Request) -> CsrfToken:
    token = ScopeState.from_scope(request.scope).csrf_token
    return CsrfToken(request.scope["state"], token if isinstance(token, str) else "")


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    fragment: str | None = None,
    status_code: int = 200,
    default_locale: str = i18n.DEFAULT_LOCALE,
) -> Response[str]:
    """Render with the tenant's theme, in the chosen language; htmx gets ``fragment`` alone."""
    chosen = request.query_params.get("lang")
    locale = i18n.pick_locale(chosen, request.cookies.get(i18n.LOCALE_COOKIE), default_locale)
    i18n.current_locale.set(locale)
    engines: ThemeEngines = request.app.state.templates
    site: Site | None = request.state.get("site")
    theme = site.tenant.theme if site and site.tenant else "base"
    htmx = (
        isinstance(request, HTMXRequest) and bool(request.htmx) and not request.htmx.history_restore_request
    )
    context = page_context(request, site, **context)
    html = engines.render(theme, template, context, block=fragment if htmx else None)
    cookies = []
    if chosen in i18n.LOCALES:
        cookies.append(Cookie(key=i18n.LOCALE_COOKIE, value=locale, max_age=365 * 24 * 3600, samesite="lax"))
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        status_code=status_code,
        cookies=cookies,
        headers={"Vary": "HX-Request, Cookie"},
    )


async def render_unavailable(scope: Scope, receive: Receive, send: Send, tenant: TenantRef) -> None:
    """The calm notice a suspended or not-yet-ready portal shows instead of its pages."""
    request: Request = Request(scope, receive, send)
    reason = {"suspended": "suspended", "deleting": "closing"}.get(
        tenant.status, "preparing"
    )  # moving: preparing
    response = render(request, "unavailable.html", {"reason": reason, "tenant": tenant}, status_code=503)
    if reason == "preparing":
        response.headers["Retry-After"] = "30"
    await response.to_asgi_response(None, request)(scope, receive, send)


async def tenant_default_locale(session: AsyncSession) -> str:
    value = await session.scalar(select(Setting.value).where(Setting.key == "default_locale"))
    return value if value in i18n.LOCALES else i18n.DEFAULT_LOCALE


async def page_locale(request: Request, db_session: AsyncSession) -> str:
    """The request's language (``?lang=``, then the cookie, then the tenant's default), resolved once per
    request and set before any label or message is made; ``render_page`` and the ``locale`` dependency
    share it."""
    known = request.state.get("page_locale")
    if isinstance(known, str):
        i18n.current_locale.set(known)
        return known
    site: Site | None = request.state.get("site")
    default = (await tenant_settings(request)).default_locale if site and site.tenant else i18n.DEFAULT_LOCALE
    locale = i18n.pick_locale(
        request.query_params.get("lang"), request.cookies.get(i18n.LOCALE_COOKIE), default
    )
    request.state.page_locale = locale
    i18n.current_locale.set(locale)
    return locale


async def render_page(
    request: Request, db_session: AsyncSession, template: str, context: dict[str, Any], status: int = 200
) -> Response[str]:
    """The one renderer of a tenant's pages: the theme's template, in the request's language."""
    locale = await page_locale(request, db_session)
    return render(request, template, context, status_code=status, default_locale=locale)


SAME_HOST_PATH = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")


def safe_next(target: str | None) -> str:
    """Only a path on this same host; anything else (//evil, /\\evil, https://…, control characters) goes
    home. Browsers read a backslash like a slash, so ``/\\evil.com`` would leave the site."""
    if not target or not SAME_HOST_PATH.fullmatch(target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


class PagesController(Controller):
    @get("/", opt={"sites": ALL_SITES, "public": True, "kept_page": "home"}, name="home")
    async def home(
        self, request: HTMXRequest, site: NamedDependency[Site], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        page = site_page(HOME, site.kind)  # the public site, the co-op console, a tenant's home: assembly's
        if page is not None:
            return await page(request, db_session, {})
        if site.kind == "public":
            return render(request, "public_home.html", {})
        raise NotFoundException()

    @get("/contact", opt={"public": True, "sites": ("tenant", "public")}, name="contact")
    async def contact(
        self, request: HTMXRequest, site: NamedDependency[Site], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        if (page := site_page(CONTACT, site.kind)) is not None:  # the public site's form to the co-op
            return await page(request, db_session, {})
        locale = await tenant_default_locale(db_session)
        return render(request, "contact.html", {}, fragment="contact", default_locale=locale)

    @post("/contact", opt={"public": True, "sites": ("public",)})
    async def send_contact(
        self,
        request: HTMXRequest,
        site: NamedDependency[Site],
        db_session: NamedDependency[AsyncSession],
        data: FormData,
    ) -> Response[Any]:
        """The public site's contact form, sent (one handler per path and method: registered page)."""
        page = site_page(CONTACT_SEND, site.kind)
        if page is None:
            raise NotFoundException()
        return await page(request, db_session, data)

    @get("/{path:path}", opt={"sites": ALL_SITES, "public": True}, name="not-found", include_in_schema=False)
    async def not_found(self, path: FromPath[str]) -> None:
        """Any other path, once the host is resolved: the calm, themed 404 page."""
        raise NotFoundException()

    @get("/langue", opt={"sites": ALL_SITES, "public": True}, name="language")
    async def language(
        self, request: Request, lang: FromQuery[str] = "fr", next_url: FromQuery[str | None] = None
    ) -> Redirect:
        """Switch language without JavaScript; the choice is remembered in a cookie."""
        target = safe_next(next_url)
        response = Redirect(target, status_code=303)
        if lang in i18n.LOCALES:
            response.set_cookie(i18n.LOCALE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
        return response
