"""Who is asking: the session cookie, the signed-in identity of each request, starting and ending sessions.

The cookie carries only a random session id. It is host-only (no ``Domain``), so it is scoped to
the tenant's own host; ``HttpOnly`` and ``SameSite=Lax`` always, ``Secure`` outside development and
tests (then named ``__Host-…``, which browsers accept only from HTTPS, on ``/``, without a domain).
Co-op staff sessions live in the same store under the platform's own scope (``COOP_SCOPE``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from typing import Any, Literal

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis

from bippop.accounts.sessions import DEFAULT_TIMEOUTS, Session, SessionStore
from bippop.config import Settings
from bippop.web import i18n

# Staff of the co-op are not in any tenant: their sessions use this scope (no tenant has the nil id).
COOP_SCOPE = uuid.UUID(int=0)
FLAG_MFA_ENROLLMENT = "mfa_enrollment"


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


def scope_id(request: Request[Any, Any, Any] | Scope) -> uuid.UUID | None:
    """The session scope of the request's site: the tenant's id, COOP_SCOPE on the co-op host."""
    state = request.scope["state"] if isinstance(request, Request) else request["state"]
    site = state.get("site")
    if site is None:
        return None
    if site.tenant is not None:
        return site.tenant.id
    return COOP_SCOPE if site.kind == "coop" else None


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
        await next_app(scope, receive, send)


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
) -> Session:
    """Sign ``person_id`` in on this site: a new session id (any previous one is destroyed), in a cookie."""
    sid = scope_id(request)
    if sid is None:
        raise RuntimeError("no session outside a tenant or the co-op console")
    settings: Settings = request.app.state.settings
    previous = request.cookies.get(session_cookie_name(settings))
    session = await session_store(request).start(sid, person_id, roles, replacing=previous, flags=flags)
    response.cookies.append(session_cookie(settings, session.id, max_age=session.absolute_timeout))
    return session


async def end_session(request: Request[Any, Any, Any], response: Response[Any]) -> None:
    settings: Settings = request.app.state.settings
    sid = scope_id(request)
    cookie = request.cookies.get(session_cookie_name(settings))
    if sid is not None and cookie:
        await session_store(request).end(sid, cookie)
    response.cookies.append(session_cookie(settings, "", max_age=0))
