"""The audit log page: filters, one page of events, the cursor to older ones (``services/audit_log.py``)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.permissions import requires
from bippop.accounts.services.audit_log import browse_log
from bippop.web.pages import render_page


class AuditLogController(Controller):
    path = "/gestion/journal"
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("audit.browse")], name="admin-audit-log")
    async def journal(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        log = await browse_log(db_session, identity, request.query_params)
        if not log.errors:
            await db_session.commit()  # the reading is in the log before the page is shown
        context = {
            "values": log.values,
            "errors": log.errors,
            "lines": log.lines,
            "older": log.older,
            "newest": log.newest,
            "actions": log.actions,
        }
        status = 400 if log.errors else 200
        return await render_page(
            request, db_session, "admin/journal.html", staff_context(identity, context), status=status
        )
