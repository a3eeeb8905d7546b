"""``/coordination/exports``: the tables the switched-on modules export (their manifests' ``exports``),
each for whoever holds its action; a download is a CSV file (``modules/exports.py``), audited."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.permissions import allowed, requires
from bippop.aid.coordination.common import coordination_page, identity_of
from bippop.modules import registry
from bippop.modules.assembly import exports, find_export
from bippop.modules.exports import export_file
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.tenant_settings import tenant_settings


async def _enabled(request: Request) -> frozenset[str]:
    return (await tenant_settings(request)).visible_modules(registry.installed_modules())


class ExportsController(Controller):
    path = "/coordination/exports"
    dependencies = PAGE_DEPENDENCIES
    guards = [requires("modules.export")]

    @get("/", name="coordination-exports")
    async def list_exports(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        roles = identity_of(request).roles
        found = [(m, e) for m, e in exports(await _enabled(request)) if allowed(roles, e.action)]
        return await coordination_page(request, db_session, "coordination/exports.html", {"exports": found})

    @get("/{slug:str}/{key:str}", name="coordination-export")
    async def download(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        key: FromPath[str],
        locale: NamedDependency[str],
    ) -> Response[str]:
        found = find_export(await _enabled(request), slug, key.removesuffix(".csv"))
        if found is None:
            raise NotFoundException()
        manifest, export = found
        identity = identity_of(request)
        if not allowed(identity.roles, export.action):
            raise PermissionDeniedException()
        exported = await export_file(db_session, manifest, export, actor_id=identity.person_id)
        await db_session.commit()
        return Response(
            exported.body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
        )
