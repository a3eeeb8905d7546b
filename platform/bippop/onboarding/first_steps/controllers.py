"""``/gestion/premiers-pas``: the administrator's checklist of next steps, and the buttons that publish
and unpublish the portal (``checklist.py`` holds the rules)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.permissions import requires
from bippop.onboarding.first_steps.checklist import checklist, set_published
from bippop.web.deps import tenant_of
from bippop.web.pages import render_page
from bippop.web.tenant_settings import forget as forget_tenant_settings

PATH = "/gestion/premiers-pas"
NOTICES = ("published", "unpublished")


class FirstStepsController(Controller):
    path = PATH
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("onboarding.checklist")], name="first-steps")
    async def first_steps(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        found = await checklist(db_session, identity, tenant_of(request))
        notice = request.query_params.get("done")
        context = {"checklist": found, "notice": notice if notice in NOTICES else None}
        return await render_page(
            request, db_session, "onboarding/first_steps.html", staff_context(identity, context)
        )

    @post("/publier", guards=[requires("onboarding.checklist")], name="first-steps-publish")
    async def publish(
        self, request: Request, db_session: NamedDependency[AsyncSession], identity: NamedDependency[Identity]
    ) -> Response[Any]:
        return await _publication(request, db_session, identity, published=True)

    @post("/depublier", guards=[requires("onboarding.checklist")], name="first-steps-unpublish")
    async def unpublish(
        self, request: Request, db_session: NamedDependency[AsyncSession], identity: NamedDependency[Identity]
    ) -> Response[Any]:
        return await _publication(request, db_session, identity, published=False)


async def _publication(
    request: Request, db_session: AsyncSession, identity: Identity, *, published: bool
) -> Redirect:
    await set_published(db_session, identity, published)
    await db_session.commit()
    # Every page (home, sign-up) sees the change at once, in every process.
    await forget_tenant_settings(request.app.state.redis, tenant_of(request))
    return Redirect(f"{PATH}?done={'published' if published else 'unpublished'}", status_code=303)
