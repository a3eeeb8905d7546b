"""Steps 3 to 5: the portal's address, its appearance, the services it offers."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.controllers.common import WIZARD, open_step, refused_or_next, step_page
from bippop.onboarding.wizard.services import StepOutcome
from bippop.onboarding.wizard.services import portal as step
from bippop.onboarding.wizard.services.submit import refusal_message
from bippop.onboarding.wizard.steps import BY_KEY, PREFIX, first_missing
from bippop.tenants.branding import DEFAULT_COLOURS
from bippop.tenants.urls import subdomain_url
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.forms import FormData, form_fields
from bippop.web.i18n import current_locale
from bippop.web.templates import ThemeEngines


def theme_choices(request: Request) -> list[tuple[str, str]]:
    """(name, label) of each theme, ``base`` first."""
    engines: ThemeEngines = request.app.state.templates
    locale = current_locale.get()
    try:
        infos = engines.themes()
        choices = [(info.name, info.label_in(locale)) for info in infos]
    except AttributeError:
        choices = [(name, name) for name in engines.environments]
    return sorted(choices, key=lambda c: (c[0] != "base", c[1]))


class PortalController(Controller):
    path = PREFIX
    dependencies = PAGE_DEPENDENCIES

    @get("/adresse", opt=WIZARD, name="signup-address")
    async def address_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 3)
        if isinstance(signup, Redirect):
            return signup
        errors = {}
        if refusal := refusal_message(request.query_params.get("refus")):
            errors["slug"] = refusal
        return await self._address_page(
            request, db_session, signup, {"slug": step.proposed_slug(signup)}, errors
        )

    async def _address_page(
        self,
        request: Request,
        db_session: AsyncSession,
        signup: Signup,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[Any]:
        settings = request.app.state.settings
        preview = subdomain_url(values.get("slug") or "votre-commune", "", settings)
        context = {
            "values": values,
            "errors": errors,
            "preview": preview,
            "example": subdomain_url("SLUG", "", settings),
        }
        return await step_page(request, db_session, "address.html", signup, 3, context, status=status)

    @post("/adresse", opt=WIZARD)
    async def save_address(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 3, lock=True)
        if isinstance(signup, Redirect):
            return signup
        outcome = await step.save_address(db_session, signup, form_fields(data))
        refused = partial(
            self._address_page, request, db_session, signup, outcome.values, outcome.errors, 400
        )
        return await refused_or_next(request, db_session, outcome, refused, BY_KEY["branding"].path)

    @get("/apparence", opt=WIZARD, name="signup-branding")
    async def branding_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 4)
        if isinstance(signup, Redirect):
            return signup
        values = {"theme": "base", **(signup.answers.get("branding") or {})}
        return await self._branding_page(request, db_session, signup, StepOutcome(values=values))

    async def _branding_page(
        self,
        request: Request,
        db_session: AsyncSession,
        signup: Signup,
        outcome: StepOutcome,
        status: int = 200,
    ) -> Response[Any]:
        context = {
            "values": outcome.values,
            "errors": outcome.errors,
            "themes": theme_choices(request),
            "defaults": DEFAULT_COLOURS,
        }
        return await step_page(request, db_session, "branding.html", signup, 4, context, status=status)

    @post("/apparence", opt=WIZARD)
    async def save_branding(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 4, lock=True)
        if isinstance(signup, Redirect):
            return signup
        names = [name for name, _label in theme_choices(request)]
        outcome = step.save_branding(signup, form_fields(data), names)
        refused = partial(self._branding_page, request, db_session, signup, outcome, status=400)
        return await refused_or_next(request, db_session, outcome, refused, BY_KEY["modules"].path)

    @get("/services", opt=WIZARD, name="signup-modules")
    async def modules_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 5)
        if isinstance(signup, Redirect):
            return signup
        context = {"modules": step.module_choices(), "chosen": step.chosen_modules(signup)}
        return await step_page(request, db_session, "modules.html", signup, 5, context)

    @post("/services", opt=WIZARD)
    async def save_modules(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 5, lock=True)
        if isinstance(signup, Redirect):
            return signup
        outcome = step.save_modules(signup, data)
        context = {"modules": step.module_choices(), "chosen": [], "errors": outcome.errors}
        refused = partial(step_page, request, db_session, "modules.html", signup, 5, context, status=400)
        next_path = first_missing(signup) if signup.step_done < 5 else BY_KEY["billing"].path
        return await refused_or_next(request, db_session, outcome, refused, next_path)
