"""Signing in (password, then the second factor when the person has one) and out. On another site's
host (the co-op console's) the same paths serve the page that site registered (``web/site_pages.py``)."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import mfa
from bippop.accounts.auth import (
    FLAG_MFA_ENROLLMENT,
    current_identity,
    end_session,
    scope_id,
    session_store,
    start_session,
)
from bippop.accounts.controllers.opts import SIGN_IN_SITES, TENANT_AND_COOP
from bippop.accounts.deps import accounts_request
from bippop.accounts.models import Person
from bippop.accounts.oidc import enabled_providers
from bippop.accounts.services.sign_in import (
    check_password,
    check_second_factor,
    record_sign_in,
    record_sign_out,
)
from bippop.accounts.sessions import SignedOutMeanwhile
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.forms import FormData, form_fields
from bippop.web.i18n import _
from bippop.web.pages import render_page, safe_next
from bippop.web.site_pages import CODE, CODE_FORM, SIGN_IN, SIGN_IN_FORM, SIGN_OUT, site_page

MFA_PENDING_COOKIE = "bippop_mfa"
MFA_PENDING_SECONDS = 5 * 60


def _pending_key(request: Request, pending_id: str) -> str:
    return f"bippop:t:{scope_id(request)}:mfa-pending:{pending_id}"


async def complete_sign_in(
    request: Request, db_session: AsyncSession, person: Person, next_url: str, *, method: str
) -> Response[Any]:
    """Password (or link, or single sign-on) accepted: the second factor if the person has one,
    else a new session; a role that requires the second factor and has none goes to set it up."""
    redis: Redis = request.app.state.redis
    seen = await _read_again_after_generation(request, db_session, person, method)
    if seen is _CHANGED:
        return Redirect("/connexion?expired=1", status_code=303)
    if person.totp_confirmed_at is not None:
        pending_id = secrets.token_urlsafe(24)
        await redis.set(
            _pending_key(request, pending_id),
            json.dumps({"person_id": str(person.id), "next": next_url, "method": method, "generation": seen}),
            ex=MFA_PENDING_SECONDS,
        )
        response: Response[Any] = Redirect("/connexion/code", status_code=303)
        response.set_cookie(
            MFA_PENDING_COOKIE,
            pending_id,
            max_age=MFA_PENDING_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.env == "production",
            path="/connexion",
        )
        return response
    flags: tuple[str, ...] = ()
    target = next_url
    if mfa.mfa_required(person.roles):
        flags = (FLAG_MFA_ENROLLMENT,)
        target = "/compte/double-authentification"
    record_sign_in(db_session, person, {"method": method})
    await db_session.commit()
    response = Redirect(target, status_code=303)
    try:
        await start_session(request, response, person.id, person.roles, flags=flags, seen_generation=seen)
    except SignedOutMeanwhile:
        return Redirect("/connexion?expired=1", status_code=303)
    return response


_CHANGED = "changed"
# Methods that change the password (a reset, an invitation to an existing account): the person's other
# sessions end once more after the change is committed, since a sign-in may have read the old password
# between the first ending and the commit.
PASSWORD_CHANGING_METHODS = frozenset({"reset_password", "invitation"})


async def _read_again_after_generation(
    request: Request, db_session: AsyncSession, person: Person, method: str
) -> str | None:
    """The person's session generation, read BEFORE their roles and password are read again: a role
    removal or password reset committed after this read replaces the generation, and the session this
    sign-in starts is refused (``SignedOutMeanwhile``) instead of living on with what was read. Returns
    ``_CHANGED`` when the password checked is no longer the person's, or the account was closed."""
    store, scope = session_store(request), scope_id(request)
    assert scope is not None
    if method in PASSWORD_CHANGING_METHODS:
        await db_session.commit()
        await store.end_all_for(scope, person.id)
        return await store.generation(scope, person.id)
    checked = person.password_hash
    seen = await store.generation(scope, person.id)
    await db_session.flush()
    await db_session.refresh(person)
    if not person.can_sign_in or (method == "password" and person.password_hash != checked):
        return _CHANGED
    return seen


async def _pending_sign_in(
    request: Request, db_session: AsyncSession
) -> tuple[str, dict[str, Any], Person | None] | None:
    """The sign-in waiting for its second factor (its id, what it carries, its person), if any."""
    redis: Redis = request.app.state.redis
    pending_id = request.cookies.get(MFA_PENDING_COOKIE, "")
    raw = await redis.get(_pending_key(request, pending_id)) if pending_id and len(pending_id) < 64 else None
    if raw is None:
        return None
    pending: dict[str, Any] = json.loads(raw)
    return pending_id, pending, await db_session.get(Person, uuid.UUID(pending["person_id"]))


class SignInController(Controller):
    dependencies = PAGE_DEPENDENCIES

    @get("/connexion", opt=SIGN_IN_SITES, name="sign-in")
    async def sign_in_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        if other := site_page(SIGN_IN_FORM, request.state.site.kind):
            return await other(request, db_session, {})
        expired = request.query_params.get("expired")
        values = {"next_url": request.query_params.get("next_url", "/")}
        context = {
            "values": values,
            "errors": {},
            "expired": expired in ("1", "lost"),
            "form_lost": expired == "lost",
            "sso_providers": await enabled_providers(db_session),
        }
        return await render_page(request, db_session, "accounts/sign_in.html", context)

    @post("/connexion", opt=TENANT_AND_COOP)
    async def sign_in(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        if other := site_page(SIGN_IN, request.state.site.kind):
            return await other(request, db_session, data)
        form = form_fields(data)
        next_url = safe_next(form.get("next_url"))
        outcome = await check_password(db_session, accounts_request(request), form)
        if outcome.done:
            return await complete_sign_in(request, db_session, outcome.subject, next_url, method="password")
        await commit_and_announce(request, db_session, outcome.message_ids)
        context = {
            "values": {"email": form.get("email", ""), "next_url": next_url},
            "errors": outcome.errors,
            "sso_providers": await enabled_providers(db_session),
        }
        return await render_page(request, db_session, "accounts/sign_in.html", context, status=400)

    @get("/connexion/code", opt=TENANT_AND_COOP, name="sign-in-code")
    async def code_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        if other := site_page(CODE_FORM, request.state.site.kind):
            return await other(request, db_session, {})
        if not request.cookies.get(MFA_PENDING_COOKIE):
            return Redirect("/connexion", status_code=303)
        return await render_page(
            request, db_session, "accounts/sign_in_code.html", {"errors": {}, "values": {}}
        )

    @post("/connexion/code", opt=TENANT_AND_COOP)
    async def code(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        if other := site_page(CODE, request.state.site.kind):
            return await other(request, db_session, data)
        pending = await _pending_sign_in(request, db_session)
        if pending is None:
            errors = {
                "form": _("Your sign-in took too long. Please start again with your e-mail and password.")
            }
            return await render_page(
                request, db_session, "accounts/sign_in.html", {"errors": errors, "values": {}}, status=400
            )
        pending_id, details, person = pending
        if person is None or not person.can_sign_in:
            return Redirect("/connexion", status_code=303)
        code = str(data.get("code", "")).strip()
        method = details.get("method", "password")
        outcome = await check_second_factor(
            db_session, accounts_request(request), person, code, method=method, now=request.app.state.clock()
        )
        await db_session.commit()
        if not outcome.done:
            context = {"errors": outcome.errors, "values": {}}
            return await render_page(request, db_session, "accounts/sign_in_code.html", context, status=400)
        redis: Redis = request.app.state.redis
        await redis.delete(_pending_key(request, pending_id))
        response: Response[Any] = Redirect(safe_next(details.get("next")), status_code=303)
        response.delete_cookie(MFA_PENDING_COOKIE, path="/connexion")
        try:
            await start_session(
                request, response, person.id, person.roles, seen_generation=details.get("generation")
            )
        except SignedOutMeanwhile:  # a reset or role change since the password step: start again
            return Redirect("/connexion?expired=1", status_code=303)
        return response

    @post("/deconnexion", opt=TENANT_AND_COOP, name="sign-out")
    async def sign_out(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        if other := site_page(SIGN_OUT, request.state.site.kind):
            return await other(request, db_session, {})
        identity = current_identity(request)
        if identity is not None and identity.kind == "person":
            record_sign_out(db_session, identity.person_id)
            await db_session.commit()
        response: Response[Any] = Redirect("/?signed_out=1", status_code=303)
        await end_session(request, response)
        return response
