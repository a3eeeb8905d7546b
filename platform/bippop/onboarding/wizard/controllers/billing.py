"""Step 6: the plan and who pays."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.controllers.common import WIZARD, open_step, refused_or_next, step_page
from bippop.onboarding.wizard.services import billing as step
from bippop.onboarding.wizard.steps import BY_KEY, PREFIX
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.forms import FormData


def population(signup: Signup) -> int:
    return int((signup.answers.get("collectivity") or {}).get("population") or 0)


class BillingController(Controller):
    path = PREFIX
    dependencies = PAGE_DEPENDENCIES

    @get("/facturation", opt=WIZARD, name="signup-billing")
    async def form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 6)
        if isinstance(signup, Redirect):
            return signup
        plans = await step.priced_plans(db_session, population(signup))
        return await self._page(request, db_session, signup, plans, step.billing_values(signup, plans), {})

    async def _page(
        self,
        request: Request,
        db_session: AsyncSession,
        signup: Signup,
        plans: list[step.PricedPlan],
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[Any]:
        context = {
            "values": values,
            "errors": errors,
            "plans": plans,
            "population": population(signup),
            "collectivity": signup.answers.get("collectivity") or {},
        }
        return await step_page(request, db_session, "billing.html", signup, 6, context, status=status)

    @post("/facturation", opt=WIZARD)
    async def save(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 6, lock=True)
        if isinstance(signup, Redirect):
            return signup
        outcome = await step.save_billing(db_session, signup, data)

        async def refused() -> Response[Any]:
            plans = await step.priced_plans(db_session, population(signup))
            return await self._page(request, db_session, signup, plans, outcome.values, outcome.errors, 400)

        return await refused_or_next(request, db_session, outcome, refused, BY_KEY["confirm"].path)
