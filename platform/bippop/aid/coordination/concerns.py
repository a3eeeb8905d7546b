"""``/coordination/signalements``: concerns reported by residents or volunteers, marked handled (which
also closes the coordinators' task about them)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.permissions import allowed, requires
from bippop.accounts.services.people import display_names
from bippop.aid.coordination.common import coordination_page, identity_of, visible_modules
from bippop.aid.models import Concern, HelpRequest
from bippop.aid.services.tasks import NotFound, handle_concern
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.listing import page_number, paginate


class ConcernsController(Controller):
    path = "/coordination/signalements"
    dependencies = PAGE_DEPENDENCIES

    @get("/", guards=[requires("concerns.handle")], name="coordination-concerns")
    async def concerns(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        query = select(Concern).where(Concern.status == "open").order_by(Concern.created_at, Concern.id)
        rows, pagination = await paginate(db_session, query, page_number(request), {})
        concerns = [row[0] for row in rows]
        names = await display_names(
            db_session, [c.reporter_id for c in concerns] + [c.about_person_id for c in concerns]
        )
        visible = await visible_modules(request)
        shown_requests = set(
            await db_session.scalars(
                select(HelpRequest.id).where(
                    HelpRequest.id.in_([c.request_id for c in concerns if c.request_id]),
                    HelpRequest.module.in_(sorted(visible)),
                )
            )
        )
        context = {
            "concerns": concerns,
            "pagination": pagination,
            "names": names,
            "shown_requests": shown_requests,
            "may_triage": allowed(identity_of(request).roles, "requests.triage"),
            "handled": request.query_params.get("done") == "1",
        }
        return await coordination_page(request, db_session, "coordination/concerns.html", context)

    @post(
        "/{concern_id:uuid}/traite", guards=[requires("concerns.handle")], name="coordination-concern-handled"
    )
    async def handled(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        concern_id: FromPath[uuid.UUID],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        try:
            await handle_concern(db_session, concern_id, actor_id=identity_of(request).person_id)
        except NotFound:
            raise NotFoundException() from None
        await db_session.commit()
        return Redirect("/coordination/signalements?done=1", status_code=303)
