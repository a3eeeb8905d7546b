"""Who is asking: the session cookie, the signed-in identity of each request, starting and ending sessions.

The cookie carries only a random session id. It is host-only (no ``Domain``), so it is scoped to
the tenant's own host; ``HttpOnly`` and ``SameSite=Lax`` always, ``Secure`` outside development and
tests (then named ``__Host-…``, which browsers accept only from HTTPS, on ``/``, without a domain).
Co-op staff sessions live in the same store under the platform's own scope (``COOP_SCOPE``).

CSRF: Litestar's middleware checks that a form's token and the CSRF cookie are the same signed
value, which a token and cookie planted by someone else, or kept from before signing in, would pass.
A signed-in request may only carry the token derived from its own session (HMAC of the session's
digest: OWASP's signed double-submit cookie, bound to the session), in Litestar's format so that its
middleware checks it too: ``IdentityMiddleware`` keeps the cookie at that value, and the
``csrf_bound_to_session`` guard gives it to the page and refuses any other.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import uuid
from typing import Any, Literal

from litestar import Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.middleware.csrf import generate_csrf_hash, generate_csrf_token
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from redis.asyncio import Redis

from bippop.accounts.sessions import ANY_GENERATION, DEFAULT_TIMEOUTS, Session, SessionStore
from bippop.config import Settings
from bippop.web import i18n
from bippop.web.pages import CSRF_TOKEN_USED
from bippop.web.scope import COOP_SCOPE as COOP_SCOPE  # re-exported: the accounts' importers name it here
from bippop.web.scope import scope_id as scope_id

FLAG_MFA_ENROLLMENT = "mfa_enrollment"
# Litestar's words for a refused CSRF token: the error page shows "this form has expired" on them.
CSRF_REFUSED = "CSRF token verification failed"
CSRF_COOKIE_CHOSEN = "csrf_cookie_chosen"  # scope state: this response's CSRF cookie is set on purpose


def secure_cookies(settings: Settings) -> bool:
    return settings.env == "production"


def session_cookie_name(settings: Settings) -> str:
    return "__Host-bippop_session" if secure_cookies(settings) else "bippop_session"


@functools.cache
def session_timeouts(settings: Settings) -> dict[str, tuple[int, int]]:
    """The built-in timeouts per role, with BIPPOP_SESSION_TIMEOUTS' overrides (JSON, in seconds); read
    once per settings, not on every request."""
    table = dict(DEFAULT_TIMEOUTS)
    table.update({"coop_operator": (15 * 60, 8 * 3600), "coop_admin": (15 * 60, 8 * 3600)})
    if settings.session_timeouts:
        for role, (idle, absolute) in json.loads(settings.session_timeouts).items():
            table[role] = (int(idle), int(absolute))
    return table


def session_store(request: Request[Any, Any, Any] | Scope) -> SessionStore:
    app = request.app if isinstance(request, Request) else request["litestar_app"]
    redis: Redis = app.state.redis
    return SessionStore(redis, timeouts=session_timeouts(app.state.settings), clock=app.state.clock)


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """The signed-in person (or co-op staff member) of a request."""

    kind: Literal["person", "staff"]
    person_id: uuid.UUID
    roles: tuple[str, ...]
    session: Session

    @property
    def must_enroll_mfa(self) -> bool:
        return FLAG_MFA_ENROLLMENT in self.session.flags

    def seconds_left(self, now: float) -> int:
        return max(0, int(self.session.expires_at() - now))


def current_identity(request: Request[Any, Any, Any]) -> Identity | None:
    identity: Identity | None = request.scope["state"].get("identity")
    return identity


class IdentityMiddleware(ASGIMiddleware):
    """After host resolution: the session named by the cookie, if it is live on this site.

    Routes with ``opt["touch_session"] = False`` (the expiry warning's status check) read the
    session without counting as activity.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = Request(scope)
        i18n.current_locale.set(
            i18n.pick_locale(request.query_params.get("lang"), request.cookies.get(i18n.LOCALE_COOKIE))
        )
        scope["state"]["identity"] = None
        sid = scope_id(scope)
        settings: Settings = scope["litestar_app"].state.settings
        cookie = request.cookies.get(session_cookie_name(settings))
        if sid is not None and cookie:
            touch = scope["route_handler"].opt.get("touch_session", True)
            session = await session_store(scope).get(sid, cookie, touch=touch)
            if session is not None:
                kind: Literal["person", "staff"] = "staff" if sid == COOP_SCOPE else "person"
                scope["state"]["identity"] = Identity(kind, session.person_id, session.roles, session)
                csrf = scope["litestar_app"].csrf_config
                if csrf is not None:
                    bound = session_csrf_token(csrf, session)
                    if request.cookies.get(csrf.cookie_name) != bound:
                        send = _setting_csrf_cookie(scope, send, csrf_cookie(csrf, bound))
        if scope["state"]["identity"] is None:
            csrf = scope["litestar_app"].csrf_config
            if csrf is not None and csrf.cookie_name not in request.cookies:
                send = _csrf_cookie_if_used(scope, send, csrf.cookie_name)
        await next_app(scope, receive, send)


def _csrf_cookie_if_used(scope: Scope, send: Send, cookie_name: str) -> Send:
    """``send``, without the CSRF cookie Litestar's middleware adds to every answer to a visitor who has
    none, unless the page carries the token (a form: ``web.pages.CsrfToken``) or signing in or out chose
    the cookie. A page without a form then sets no cookie: the same answer for every visitor."""
    prefix = f"{cookie_name}=".encode()

    async def wrapped(message: Message) -> None:
        state = scope["state"]
        if (
            message["type"] == "http.response.start"
            and not state.get(CSRF_TOKEN_USED)
            and not state.get(CSRF_COOKIE_CHOSEN)
        ):
            message["headers"] = [
                (name, value)
                for name, value in message.get("headers", ())
                if not (name.lower() == b"set-cookie" and value.startswith(prefix))
            ]
        await send(message)

    return wrapped


def _setting_csrf_cookie(scope: Scope, send: Send, cookie: Cookie) -> Send:
    """``send``, with ``cookie`` as the response's CSRF cookie, in place of the random one Litestar's
    middleware adds when the request has none (a browser restarted keeps the longer-lived session
    cookie), unless signing in or out chose the cookie."""
    prefix = f"{cookie.key}=".encode()

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and not scope["state"].get(CSRF_COOKIE_CHOSEN):
            message["headers"] = [
                (name, value)
                for name, value in message.get("headers", ())
                if not (name.lower() == b"set-cookie" and value.startswith(prefix))
            ]
            MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))
        await send(message)

    return wrapped


def session_csrf_token(csrf: CSRFConfig, session: Session) -> str:
    """The one CSRF token a request of ``session`` may carry; it tells nothing about the session id."""
    nonce = hmac.new(csrf.secret.encode(), f"csrf:{session.digest}".encode(), hashlib.sha256).hexdigest()
    return nonce + generate_csrf_hash(nonce, csrf.secret)


def csrf_cookie(csrf: CSRFConfig, value: str) -> Cookie:
    """The CSRF cookie as Litestar's middleware sets it."""
    return Cookie(
        key=csrf.cookie_name,
        value=value,
        path=csrf.cookie_path,
        secure=csrf.cookie_secure,
        httponly=csrf.cookie_httponly,
        samesite=csrf.cookie_samesite,
        domain=csrf.cookie_domain,
    )


async def csrf_bound_to_session(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """App-wide guard, after Litestar's CSRF check: on a signed-in request, pages carry the session's
    token and an unsafe method with any other token is refused (the "this form has expired" page).
    A coroutine though it awaits nothing: Litestar runs a plain function guard in a thread, on every
    request (a tenth of /healthz's CPU)."""
    identity: Identity | None = connection.scope["state"].get("identity")
    csrf = connection.app.csrf_config
    if identity is None or csrf is None:
        return
    state = ScopeState.from_scope(connection.scope)
    bound = session_csrf_token(csrf, identity.session)
    if connection.scope.get("method") in csrf.safe_methods:
        state.csrf_token = bound
    elif isinstance(state.csrf_token, str) and not hmac.compare_digest(state.csrf_token, bound):
        # A string here is the token Litestar accepted; none means the route is exempt from CSRF.
        raise PermissionDeniedException(CSRF_REFUSED)


def session_cookie(settings: Settings, value: str, *, max_age: int | None) -> Cookie:
    return Cookie(
        key=session_cookie_name(settings),
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="lax",
    )


async def start_session(
    request: Request[Any, Any, Any],
    response: Response[Any],
    person_id: uuid.UUID,
    roles: tuple[str, ...] | list[str],
    *,
    flags: tuple[str, ...] = (),
    seen_generation: str | object | None = ANY_GENERATION,
) -> Session:
    """Sign ``person_id`` in on this site: a new session id (any previous one is destroyed), in a cookie.
    ``seen_generation``: see ``SessionStore.start`` (raises ``SignedOutMeanwhile``)."""
    sid = scope_id(request)
    if sid is None:
        raise RuntimeError("no session outside a tenant or the co-op console")
    settings: Settings = request.app.state.settings
    previous = request.cookies.get(session_cookie_name(settings))
    session = await session_store(request).start(
        sid, person_id, roles, replacing=previous, flags=flags, seen_generation=seen_generation
    )
    response.cookies.append(session_cookie(settings, session.id, max_age=session.absolute_timeout))
    if (csrf := request.app.csrf_config) is not None:
        # A CSRF token from before the sign-in (perhaps planted) is worthless from now on.
        response.cookies.append(csrf_cookie(csrf, session_csrf_token(csrf, session)))
        request.scope["state"][CSRF_COOKIE_CHOSEN] = True
    return session


async def end_session(request: Request[Any, Any, Any], response: Response[Any]) -> None:
    settings: Settings = request.app.state.settings
    sid = scope_id(request)
    cookie = request.cookies.get(session_cookie_name(settings))
    if sid is not None and cookie:
        await session_store(request).end(sid, cookie)
    response.cookies.append(session_cookie(settings, "", max_age=0))
    if (csrf := request.app.csrf_config) is not None:
        # Signed out: a new random token (the session's own would mean nothing now).
        response.cookies.append(csrf_cookie(csrf, generate_csrf_token(csrf.secret)))
        request.scope["state"][CSRF_COOKIE_CHOSEN] = True
