"""Single-use links: asking for one by e-mail (a sign-in link, a password reset), and
``/lien/<secret>``, where opening the link shows a page and only its button (a POST) uses it, so a
mail scanner that follows links does not burn it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import services as accounts
from bippop.accounts.controllers.opts import PUBLIC
from bippop.accounts.controllers.sign_in import complete_sign_in
from bippop.accounts.deps import PUBLIC_DEPENDENCIES, AccountsRequest
from bippop.accounts.services.link_use import use_link
from bippop.accounts.services.sign_up import ask_by_email
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.forms import FormData, form_fields, form_problems
from bippop.web.pages import render_page, safe_next


async def _ask_page(
    request: Request,
    db_session: AsyncSession,
    caller: AccountsRequest,
    data: dict[str, Any],
    purpose: str,
    limit: str,
) -> Response[str]:
    form = form_fields(data)
    outcome = await ask_by_email(db_session, caller, form, purpose, limit, safe_next(form.get("next_url")))
    if not outcome.done:
        context = {
            "purpose": purpose,
            "values": {"email": form.get("email", ""), "next_url": form.get("next_url", "/")},
            "errors": outcome.errors,
        }
        return await render_page(
            request, db_session, "accounts/ask_link.html", context, status=outcome.status
        )
    await commit_and_announce(request, db_session, outcome.message_ids)
    # Same answer whether or not the address has an account.
    return await render_page(request, db_session, "accounts/check_email.html", {"purpose": purpose})


class EmailLinkController(Controller):
    dependencies = PUBLIC_DEPENDENCIES

    @get("/connexion/lien", opt=PUBLIC, name="sign-in-link")
    async def link_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        values = {"next_url": request.query_params.get("next_url", "/")}
        context = {"purpose": "sign_in_link", "values": values, "errors": {}}
        return await render_page(request, db_session, "accounts/ask_link.html", context)

    @post("/connexion/lien", opt=PUBLIC)
    async def ask_link(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        caller: NamedDependency[AccountsRequest],
        locale: NamedDependency[str],
    ) -> Response[str]:
        return await _ask_page(request, db_session, caller, data, "sign_in_link", "sign_in")

    @get("/mot-de-passe-oublie", opt=PUBLIC, name="forgot-password")
    async def forgot_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        context = {"purpose": "reset_password", "values": {}, "errors": {}}
        return await render_page(request, db_session, "accounts/ask_link.html", context)

    @post("/mot-de-passe-oublie", opt=PUBLIC)
    async def forgot(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        caller: NamedDependency[AccountsRequest],
        locale: NamedDependency[str],
    ) -> Response[str]:
        return await _ask_page(request, db_session, caller, data, "reset_password", "password_reset")


class LinkController(Controller):
    """``/lien/<secret>``: the page of a single-use link, and its button."""

    dependencies = PUBLIC_DEPENDENCIES

    @get("/lien/{token:str}", opt=PUBLIC, name="link")
    async def show(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        token: FromPath[str],
        locale: NamedDependency[str],
    ) -> Response[str]:
        check = await accounts.check_token(db_session, token)
        context: dict[str, Any] = {
            "token": token,
            "errors": {},
            "values": {"next_url": request.query_params.get("next_url", "/")},
        }
        if check.problem:
            context["problem"] = accounts.token_problem_message(check.problem)
            context["purpose"] = check.token.purpose if check.token else None
            return await render_page(request, db_session, "accounts/link.html", context, status=400)
        assert check.token is not None
        context["purpose"] = check.token.purpose
        context["values"]["email"] = check.token.email or ""
        return await render_page(request, db_session, "accounts/link.html", context)

    @post("/lien/{token:str}", opt=PUBLIC)
    async def use(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        token: FromPath[str],
        data: FormData,
        caller: NamedDependency[AccountsRequest],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        form = form_fields(data)
        check = await accounts.check_token(db_session, token, lock=True)
        context: dict[str, Any] = {
            "token": token,
            "errors": {},
            "values": {"next_url": form.get("next_url", "/")},
        }
        if check.problem or check.token is None:
            context["problem"] = accounts.token_problem_message(check.problem or "unknown")
            context["purpose"] = check.token.purpose if check.token else None
            return await render_page(request, db_session, "accounts/link.html", context, status=400)
        record = check.token
        context["purpose"] = record.purpose
        context["values"]["email"] = record.email or ""
        if invisible := form_problems(form):
            context["errors"] = invisible
            context["values"]["display_name"] = form.get("display_name", "")
            return await render_page(request, db_session, "accounts/link.html", context, status=400)
        outcome = await use_link(db_session, caller, record, form)
        if not outcome.done:
            if "problem" in outcome.errors:
                context["problem"] = outcome.errors["problem"]
            else:
                context["errors"] = outcome.errors
                if record.purpose == "invitation" and outcome.status == 400:
                    context["values"]["display_name"] = form.get("display_name", "")
            return await render_page(
                request, db_session, "accounts/link.html", context, status=outcome.status
            )
        next_url = safe_next(form.get("next_url"))
        return await complete_sign_in(request, db_session, outcome.subject, next_url, method=record.purpose)
