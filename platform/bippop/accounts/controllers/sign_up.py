"""Signing up on one's own (beneficiary, relative, volunteer); staff roles come by invitation."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.controllers.opts import PUBLIC
from bippop.accounts.deps import PUBLIC_DEPENDENCIES, AccountsRequest
from bippop.accounts.services.sign_up import sign_up
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.forms import FormData, form_fields
from bippop.web.pages import render_page


class SignUpController(Controller):
    dependencies = PUBLIC_DEPENDENCIES

    @get("/inscription", opt=PUBLIC, name="sign-up")
    async def sign_up_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        values = {"role": request.query_params.get("role", "")}
        return await render_page(
            request, db_session, "accounts/sign_up.html", {"values": values, "errors": {}}
        )

    @post("/inscription", opt=PUBLIC)
    async def sign_up(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        caller: NamedDependency[AccountsRequest],
        locale: NamedDependency[str],
    ) -> Response[str]:
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
