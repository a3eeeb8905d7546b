"""Step 1 (finding the collectivity; writing to the administrator of one already registered), the
wizard's entry and the resume link."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.onboarding.wizard.controllers.common import (
    WIZARD,
    blocked,
    commit_and_announce,
    current_signup,
    keep_secret,
    refused_or_next,
    see_other,
    step_page,
    wizard_caller,
)
from bippop.onboarding.wizard.services import collectivity as step
from bippop.onboarding.wizard.services.submit import refusal_message
from bippop.onboarding.wizard.steps import PREFIX, first_missing
from bippop.onboarding.wizard.store import find_signup
from bippop.tenants.urls import tenant_url
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.forms import FormData, first_text, form_fields

TEMPLATE = "collectivity.html"


class CollectivityController(Controller):
    path = PREFIX
    dependencies = PAGE_DEPENDENCIES

    @get("/", opt=WIZARD, name="signup-start")
    async def start(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        return see_other(first_missing(await current_signup(request, db_session)))

    @get("/collectivite", opt=WIZARD, name="signup-collectivity")
    async def form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await current_signup(request, db_session)
        if redirect := blocked(signup, 1):
            return redirect
        saved = (signup.answers.get("collectivity") if signup else None) or {}
        query = request.query_params.get("q", "") or saved.get("name", "")
        results = await step.search(db_session, query) if query else []
        context = {
            "values": {"q": query[:100], "choice": f"{saved['kind']}:{saved['code']}" if saved else ""},
            "results": results,
            "searched": bool(query),
            "refusal": refusal_message(request.query_params.get("refus")),
        }
        return await step_page(request, db_session, TEMPLATE, signup, 1, context)

    @post("/collectivite", opt=WIZARD)
    async def choose(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await current_signup(request, db_session, lock=True)
        if redirect := blocked(signup, 1):
            return redirect
        form = form_fields(data)
        outcome = await step.choose(db_session, wizard_caller(request), signup, form, locale)
        if outcome.redirect:
            return see_other(outcome.redirect)

        async def refused() -> Response[Any]:
            results = await step.search(db_session, outcome.values.get("q", ""))
            context = {
                "values": outcome.values,
                "errors": outcome.errors,
                "results": results,
                "searched": True,
            }
            return await step_page(request, db_session, TEMPLATE, signup, 1, context, status=outcome.status)

        response = await refused_or_next(request, db_session, outcome, refused, f"{PREFIX}/compte")
        if outcome.done and outcome.secret:
            keep_secret(request, response, outcome.secret)
        return response

    @get("/collectivite/deja", opt=WIZARD, name="signup-already-registered")
    async def already(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        return await self._already_page(request, db_session, request.query_params.get("choix", ""), {})

    @post("/collectivite/deja", opt=WIZARD)
    async def write_to_administrator(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        form = form_fields(data)
        return await self._already_page(request, db_session, first_text(form, "choix"), form)

    async def _already_page(
        self, request: Request, db_session: AsyncSession, choice: str, form: dict[str, Any]
    ) -> Response[Any]:
        found = step.from_choice(choice)
        tenant = (await step.registered(db_session, [found])).get((found.kind, found.code)) if found else None
        if found is None or tenant is None:
            return see_other(f"{PREFIX}/collectivite")
        context: dict[str, Any] = {
            "collectivity": found,
            "choice": choice,
            "portal": tenant_url(tenant.ref(), "/", request.app.state.settings),
            "sent": False,
        }
        status = 200
        if form:
            outcome = await step.contact_administrator(
                db_session, wizard_caller(request), found, tenant, form
            )
            if outcome.done:
                await commit_and_announce(request, db_session, outcome.message_ids)
                context["sent"] = True
            else:
                context |= {"errors": outcome.errors, "values": outcome.values}
                status = outcome.status
        return await step_page(
            request, db_session, "already_registered.html", None, 1, context, status=status
        )

    @get("/reprendre/{secret:str}", opt=WIZARD, name="signup-resume")
    async def resume_page(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        secret: FromPath[str],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        """The mailed link shows a button (a mail scanner that follows links changes nothing)."""
        found = await find_signup(db_session, secret)
        context = {"secret": secret if found else None}
        return await step_page(
            request, db_session, "resume.html", None, 0, context, status=200 if found else 404
        )

    @post("/reprendre/{secret:str}", opt=WIZARD)
    async def resume(
        self, request: Request, db_session: NamedDependency[AsyncSession], secret: FromPath[str]
    ) -> Response[Any]:
        found = await find_signup(db_session, secret)  # a longer one matches nothing: no cut
        if found is None:
            return see_other(f"{PREFIX}/collectivite")
        response = see_other(first_missing(found))
        keep_secret(request, response, secret)
        return response
