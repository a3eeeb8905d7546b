"""``/coordination/modules/<slug>``: the settings a service module declares (its manifest's ``settings``),
set by the council's administrator for its portal."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.permissions import requires
from bippop.aid.coordination.common import coordination_page, identity_of, kept_values
from bippop.modules import registry
from bippop.modules.contract import ModuleManifest
from bippop.modules.settings import module_settings, save_module_settings
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.forms import FormData


def _with_settings(slug: str) -> ModuleManifest:
    manifest = registry.module(slug)
    if manifest is None or not manifest.settings:
        raise NotFoundException()
    return manifest


async def _settings_page(
    request: Request,
    db_session: AsyncSession,
    manifest: ModuleManifest,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    saved: bool = False,
    status: int = 200,
) -> Response[str]:
    context = {"module": manifest, "values": values, "errors": errors, "saved": saved}
    return await coordination_page(
        request, db_session, "coordination/module_settings.html", context, status=status
    )


class ModuleSettingsController(Controller):
    path = "/coordination/modules/{slug:str}"
    dependencies = PAGE_DEPENDENCIES
    guards = [requires("modules.configure")]

    @get("/", name="coordination-module-settings")
    async def show(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        locale: NamedDependency[str],
    ) -> Response[str]:
        manifest = _with_settings(slug)
        values = await module_settings(db_session, manifest)
        saved = request.query_params.get("saved") == "1"
        return await _settings_page(request, db_session, manifest, values=values, errors={}, saved=saved)

    @post("/")
    async def save(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        manifest = _with_settings(slug)
        _values, errors = await save_module_settings(
            db_session, manifest, data, actor_id=identity_of(request).person_id
        )
        if errors:
            await db_session.rollback()
            return await _settings_page(
                request, db_session, manifest, values=kept_values(data), errors=errors, status=400
            )
        await db_session.commit()
        return Redirect(f"/coordination/modules/{manifest.slug}?saved=1", status_code=303)
