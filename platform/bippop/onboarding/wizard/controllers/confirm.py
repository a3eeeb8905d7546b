"""Step 7 (the summary and the confirmation), the live progress while the portal is prepared, the retry
after a failure, and « Ouvrir mon portail »: a one-time sign-in link on the new portal."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.modules.registry import installed_modules
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.controllers.common import (
    WIZARD,
    current_signup,
    open_step,
    refused_or_next,
    see_other,
    step_page,
)
from bippop.onboarding.wizard.controllers.portal import theme_choices
from bippop.onboarding.wizard.jobs import enqueue_finish
from bippop.onboarding.wizard.services import submit as step
from bippop.onboarding.wizard.services.billing import priced_plans
from bippop.onboarding.wizard.steps import PREFIX, PROGRESS, first_missing
from bippop.tenants.models import Tenant
from bippop.tenants.urls import subdomain_url, tenant_url
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.pages import render
from bippop.web.security import CONTENT_SECURITY_POLICY


async def summary(request: Request, db_session: AsyncSession, signup: Signup) -> dict[str, Any]:
    answers = signup.answers
    population = int(answers["collectivity"].get("population") or 0)
    plans = {p.plan.code: p for p in await priced_plans(db_session, population)}
    installed = installed_modules()
    themes = dict(theme_choices(request))
    return {
        "answers": answers,
        "email": signup.email,
        "address": subdomain_url(answers["address"]["slug"], "", request.app.state.settings),
        "plan": plans.get(answers["billing"]["plan"]),
        "modules": [installed[s] for s in answers.get("modules", []) if s in installed],
        "theme": themes.get(answers["branding"].get("theme", "base"), answers["branding"].get("theme")),
    }


def policy_with_form_target(origin: str) -> str:
    """The site's CSP, whose ``form-action`` also lets « Ouvrir mon portail » end on the new portal: the
    browser applies it to the redirect that follows the form (the origin is the tenant's registered
    address, never the Host header)."""
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


class ConfirmController(Controller):
    path = PREFIX
    dependencies = PAGE_DEPENDENCIES

    @get("/confirmation", opt=WIZARD, name="signup-confirm")
    async def review(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 7)
        if isinstance(signup, Redirect):
            return signup
        context = await summary(request, db_session, signup)
        return await step_page(request, db_session, "confirm.html", signup, 7, context)

    @post("/confirmation", opt=WIZARD)
    async def confirm(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 7, lock=True)
        if isinstance(signup, Redirect):
            return signup
        outcome = await step.submit(db_session, signup, request.app.state.settings)

        async def refused() -> Response[Any]:
            context = await summary(request, db_session, signup) | {"errors": outcome.errors}
            return await step_page(
                request, db_session, "confirm.html", signup, 7, context, status=outcome.status
            )

        response = await refused_or_next(request, db_session, outcome, refused, outcome.redirect or PROGRESS)
        if outcome.done and signup.status == "submitted":
            signup_id = signup.id
            await anyio.to_thread.run_sync(lambda: enqueue_finish(signup_id))
        return response

    @get("/progression", opt=WIZARD, name="signup-progress")
    async def progress(
        self, request: HTMXRequest, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await current_signup(request, db_session)
        if signup is None or signup.status == "draft":
            return see_other(first_missing(signup))
        tenant = await db_session.get(Tenant, signup.tenant_id) if signup.tenant_id else None
        context = {
            "status": signup.status,
            "opened": bool(signup.answers.get("opened")),
            "tenant_name": (signup.answers.get("collectivity") or {}).get("name", ""),
            "sign_in": tenant_url(tenant.ref(), "/connexion", request.app.state.settings) if tenant else None,
            "steps": (),
        }
        response = render(
            request, "onboarding/progress.html", context, fragment="progress", default_locale=locale
        )
        if tenant is not None:
            origin = tenant_url(tenant.ref(), "", request.app.state.settings)
            response.headers["Content-Security-Policy"] = policy_with_form_target(origin)
        return response

    @post("/reessayer", opt=WIZARD)
    async def retry(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await current_signup(request, db_session, lock=True)
        if signup is None:
            return see_other(first_missing(None))
        if step.retry(signup):
            await db_session.commit()
            signup_id = signup.id
            await anyio.to_thread.run_sync(lambda: enqueue_finish(signup_id))
        return see_other(PROGRESS)

    @post("/ouvrir", opt=WIZARD)
    async def open_portal(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        """Only for the browser holding this sign-up, only once: the new administrator, signed in."""
        signup = await current_signup(request, db_session, lock=True)
        if signup is None:
            return see_other(first_missing(None))
        sessions = request.app.state.cluster_sessions
        settings = request.app.state.settings

        def tenant_session(tenant: Tenant) -> Any:
            ref = tenant.ref()
            return sessions[ref.cluster](info={"tenant": ref, "settings": settings})

        link = await step.open_portal(db_session, signup, tenant_session, settings)
        await db_session.commit()
        if link is None:
            return see_other(PROGRESS)
        return Redirect(link, status_code=303)
