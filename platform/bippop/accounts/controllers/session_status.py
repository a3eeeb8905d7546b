"""What the expiry warning asks: how long is left (not counted as activity), and "keep me signed in"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from bippop.accounts.auth import Identity, current_identity
from bippop.accounts.controllers.opts import PUBLIC


class SessionController(Controller):
    path = "/session"

    @get("/etat", opt={**PUBLIC, "touch_session": False, "sites": ("tenant", "coop")}, name="session-status")
    async def status(self, request: Request) -> Response[dict[str, Any]]:
        identity = current_identity(request)
        return Response(session_status(request, identity), headers={"Cache-Control": "no-store"})

    @post("/prolonger", opt={**PUBLIC, "sites": ("tenant", "coop")}, name="session-extend")
    async def extend(self, request: Request) -> Response[dict[str, Any]]:
        # The identity middleware has already counted this request as activity: the session is extended.
        identity = current_identity(request)
        return Response(session_status(request, identity), headers={"Cache-Control": "no-store"})


def session_status(request: Request, identity: Identity | None) -> dict[str, Any]:
    if identity is None:
        return {"signed_in": False, "expires_in": 0, "warn_in": 0}
    now = request.app.state.clock()
    left = identity.seconds_left(now)
    warn = max(0, int(identity.session.warn_at() - now))
    return {"signed_in": True, "expires_in": left, "warn_in": warn}
