"""``/coordination/modules``: the services the tenant offers, switched on and off."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.permissions import requires
from bippop.aid.coordination.common import coordination_page, identity_of
from bippop.aid.services.modules import choose_modules
from bippop.modules import registry
from bippop.web.deps import PAGE_DEPENDENCIES, tenant_of
from bippop.web.forms import FormData, field_values, form_problems
from bippop.web.i18n import _
from bippop.web.tenant_settings import forget as forget_tenant_settings


async def _modules_page(
    request: Request,
    db_session: AsyncSession,
    *,
    chosen: list[str],
    errors: dict[str, str],
    saved: bool = False,
    status: int = 200,
) -> Response[str]:
    context = {
        "modules": list(registry.installed_modules().values()),
        "chosen": chosen,
        "errors": errors,
        "saved": saved,
    }
    return await coordination_page(request, db_session, "coordination/modules.html", context, status=status)


class ModulesController(Controller):
    path = "/coordination/modules"
    dependencies = PAGE_DEPENDENCIES

    @get("/", guards=[requires("modules.configure")], name="coordination-modules")
    async def modules(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        chosen = await registry.enabled_slugs(db_session)
        return await _modules_page(
            request, db_session, chosen=chosen, errors={}, saved=request.query_params.get("saved") == "1"
        )

    @post("/", guards=[requires("modules.configure")])
    async def save(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        chosen = field_values(data, "modules")
        if invisible := form_problems(data):
            return await _modules_page(request, db_session, chosen=chosen, errors=invisible, status=400)
        try:
            await choose_modules(db_session, chosen, actor_id=identity_of(request).person_id)
        except ValueError:
            await db_session.rollback()
            errors = {"modules": _("Choose among the services offered.")}
            return await _modules_page(request, db_session, chosen=chosen, errors=errors, status=400)
        await db_session.commit()
        await forget_tenant_settings(
            request.app.state.redis, tenant_of(request)
        )  # pages see the change at once
        return Redirect("/coordination/modules?saved=1", status_code=303)
