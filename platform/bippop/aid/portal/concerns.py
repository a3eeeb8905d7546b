"""``/signaler``: "report a concern", linked from every page for people signed in."""

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.deps import signed_in_person
from bippop.accounts.permissions import requires
from bippop.aid.models import (
    Concern,
)
from bippop.aid.services.tasks import concern_reported
from bippop.web.drafts import take_draft
from bippop.web.forms import FormData, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render_page


class ConcernController(Controller):
    """ "Report a concern", linked from every page for people signed in."""

    path = "/signaler"
    guards = [requires("concerns.report")]

    @get("/", name="concern")
    async def form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        values = {"page": request.query_params.get("depuis", "")[:200], **await take_draft(request)}
        return await render_page(request, db_session, "portal/concern.html", {"values": values, "errors": {}})

    @post("/")
    async def report(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        body = str(data.get("body", "")).strip()
        page = str(data.get("page", ""))[:200]
        if invisible := form_problems(data, multiline=("body",)):
            return await render_page(
                request,
                db_session,
                "portal/concern.html",
                {"values": {"body": body, "page": page}, "errors": invisible},
                status=400,
            )
        if not body or len(body) > 4000:
            message = (
                _("Tell us in a few words what worries you.")
                if not body
                else _("At most %(n)d characters, please.") % {"n": 4000}
            )
            return await render_page(
                request,
                db_session,
                "portal/concern.html",
                {"values": {"body": body, "page": page}, "errors": {"body": message}},
                status=400,
            )
        concern = Concern(
            id=uuid.uuid4(), reporter_id=me.id, body=body, page=page if page.startswith("/") else None
        )
        db_session.add(concern)
        await db_session.flush()
        await concern_reported(db_session, concern)
        await db_session.commit()
        return await render_page(request, db_session, "portal/concern_sent.html", {})
