"""Step 6: the plan and who pays."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.controllers.common import WIZARD, blocked, current_signup, see_other, step_page
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
        signup = await current_signup(request, db_session)
        if redirect := blocked(signup, 6):
            return redirect
        assert signup is not None
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
        signup = await current_signup(request, db_session, lock=True)
        if redirect := blocked(signup, 6):
            return redirect
        assert signup is not None
        outcome = await step.save_billing(db_session, signup, data)
        if not outcome.done:
            plans = await step.priced_plans(db_session, population(signup))
            return await self._page(request, db_session, signup, plans, outcome.values, outcome.errors, 400)
        await db_session.commit()
        return see_other(BY_KEY["confirm"].path)
