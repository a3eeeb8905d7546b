"""What every page of the wizard shares: the sign-up of the browser's cookie, the step guard, the
cookie itself, rendering a step, and committing before the platform mail is announced."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from litestar import Request, Response
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services import StepOutcome, WizardCaller
from bippop.onboarding.wizard.steps import STEPS, first_missing, reachable
from bippop.onboarding.wizard.store import COOKIE, COOKIE_PATH, DRAFT_LIFETIME, find_signup
from bippop.outbox.platform_mail import announce_platform
from bippop.web.addresses import client_address
from bippop.web.pages import render_page

# Signed-out visitors of the public site; the wizard's pages serve nowhere else.
WIZARD = {"public": True, "sites": ("public",)}


def cookie_secret(request: Request[Any, Any, Any]) -> str | None:
    return request.cookies.get(COOKIE)


async def current_signup(
    request: Request[Any, Any, Any], db_session: AsyncSession, *, lock: bool = False
) -> Signup | None:
    return await find_signup(db_session, cookie_secret(request), lock=lock)


def wizard_caller(request: Request[Any, Any, Any], secret: str | None = None) -> WizardCaller:
    return WizardCaller(
        settings=request.app.state.settings,
        limiter=request.app.state.rate_limiter,
        address=client_address(request),
        secret=secret or cookie_secret(request),
    )


def keep_secret(request: Request[Any, Any, Any], response: Response[Any], secret: str) -> None:
    """The long-lived cookie that finds the sign-up again after the browser was closed."""
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(DRAFT_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.env == "production",
    )


def blocked(signup: Signup | None, number: int) -> Redirect | None:
    """The redirect to the first missing step when step ``number`` is not reachable yet."""
    if reachable(signup, number):
        return None
    return Redirect(first_missing(signup), status_code=303)


async def open_step(
    request: Request[Any, Any, Any], db_session: AsyncSession, number: int, *, lock: bool = False
) -> Signup | Redirect:
    """The browser's sign-up on step ``number`` (from 2 on), or the redirect to its first missing step."""
    signup = await current_signup(request, db_session, lock=lock)
    if redirect := blocked(signup, number):
        return redirect
    assert signup is not None  # a step after the first is reachable only with a sign-up
    return signup


def see_other(path: str) -> Redirect:
    return Redirect(path, status_code=303)


async def step_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    template: str,
    signup: Signup | None,
    number: int,
    context: dict[str, Any],
    status: int = 200,
) -> Response[str]:
    """A step's page, with the list of steps (those done are links, so each can be changed)."""
    done = signup.step_done if signup is not None else 0
    full = {"steps": STEPS, "current": number, "step_done": done, "errors": {}, "values": {}, **context}
    return await render_page(request, db_session, f"onboarding/{template}", full, status=status)


async def commit_and_announce(
    request: Request[Any, Any, Any], db_session: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> None:
    await db_session.commit()
    await announce_platform(request.app.state.redis, list(message_ids))


async def refused_or_next(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    outcome: StepOutcome,
    refused: Callable[[], Awaitable[Response[Any]]],
    next_path: str,
) -> Response[Any]:
    """The step's page again (``refused`` renders it) when the outcome is refused; otherwise the answers
    committed, the mail announced, and on to ``next_path``."""
    if not outcome.done:
        return await refused()
    await commit_and_announce(request, db_session, outcome.message_ids)
    return see_other(next_path)
