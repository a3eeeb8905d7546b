"""Development only: the tenant's outbox as a page, so that a developer without a mail server can open
the links the platform sends (sign-up, reset, invitations), and the text messages and voice calls the
development provider kept (``?canal=sms`` shows one channel). Never registered outside development."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.outbox.models import OutboxMessage
from bippop.web.pages import render

CHANNELS = ("email", "sms", "voice")


class DevOutboxController(Controller):
    @get("/dev/courriels", opt={"public": True}, name="dev-outbox")
    async def outbox(
        self, request: Request, db_session: NamedDependency[AsyncSession], canal: FromQuery[str | None] = None
    ) -> Response[str]:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(50)
        if canal in CHANNELS:
            query = query.where(OutboxMessage.channel == canal)
        messages = (await db_session.scalars(query)).all()
        return render(request, "dev_outbox.html", {"messages": messages})
