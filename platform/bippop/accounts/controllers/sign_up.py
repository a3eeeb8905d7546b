"""Signing up on one's own (beneficiary, relative, volunteer); staff roles come by invitation. While the
portal is not published (``published`` setting, onboarding/first_steps) the page says it is not open yet
and no account is made; its staff still see the form, to check it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.controllers.opts import PUBLIC, SIGN_UP_SITES
from bippop.accounts.deps import PUBLIC_DEPENDENCIES, AccountsRequest
from bippop.accounts.permissions import STAFF
from bippop.accounts.services.sign_up import sign_up
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.forms import FormData, form_fields
from bippop.web.pages import render_page
from bippop.web.site_pages import SIGN_UP_FORM, site_page
from bippop.web.tenant_settings import tenant_settings


async def _closed(request: Request) -> bool:
    """Sign-up is closed while the portal is unpublished, except on the page its staff look at."""
    if (await tenant_settings(request)).published:
        return False
    identity = request.scope["state"].get("identity")
    return request.method != "GET" or identity is None or not STAFF.intersection(identity.roles)


class SignUpController(Controller):
    dependencies = PUBLIC_DEPENDENCIES

    @get("/inscription", opt=SIGN_UP_SITES, name="sign-up")
    async def sign_up_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        if other := site_page(SIGN_UP_FORM, request.state.site.kind):
            return await other(request, db_session, {})  # the public site: the councils' onboarding wizard
        if await _closed(request):
            return await render_page(request, db_session, "accounts/sign_up_closed.html", {})
        values = {"role": request.query_params.get("role", "")}
        unpublished = not (await tenant_settings(request)).published
        context = {"values": values, "errors": {}, "unpublished": unpublished}
        return await render_page(request, db_session, "accounts/sign_up.html", context)

    @post("/inscription", opt=PUBLIC)
    async def sign_up(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        caller: NamedDependency[AccountsRequest],
        locale: NamedDependency[str],
    ) -> Response[str]:
        if await _closed(request):  # nothing is made while the portal is not open
            return await render_page(request, db_session, "accounts/sign_up_closed.html", {}, status=403)
        form = form_fields(data)
        outcome = await sign_up(db_session, caller, form, locale)
        if not outcome.done:
            values = {key: form.get(key, "") for key in ("display_name", "email", "role")}
            context = {"values": values, "errors": outcome.errors}
            return await render_page(request, db_session, "accounts/sign_up.html", context, status=400)
        await commit_and_announce(request, db_session, outcome.message_ids)
        return await render_page(
            request, db_session, "accounts/check_email.html", {"purpose": "verify_email"}
        )
