"""Development only: the tenant's outbox as a page, so that a developer without a mail server can open
the links the platform sends (sign-up, reset, invitations), and the text messages and voice calls the
development provider kept (``?canal=sms`` shows one channel); on the public site, the platform's own
mail (a council's sign-up, the contact form). Never registered outside development."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.outbox.models import OutboxMessage, PlatformOutboxMessage
from bippop.tenants.resolution import Site
from bippop.web.pages import render

CHANNELS = ("email", "sms", "voice")


class DevOutboxController(Controller):
    @get("/dev/courriels", opt={"public": True, "sites": ("tenant", "public")}, name="dev-outbox")
    async def outbox(
        self,
        request: Request,
        site: NamedDependency[Site],
        db_session: NamedDependency[AsyncSession],
        canal: FromQuery[str | None] = None,
    ) -> Response[str]:
        if site.kind == "public":  # the platform's own mail: e-mail only
            platform = select(PlatformOutboxMessage).order_by(PlatformOutboxMessage.created_at.desc())
            sent = (await db_session.scalars(platform.limit(50))).all()
            return render(request, "dev_outbox.html", {"messages": sent})
        query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(50)
        if canal in CHANNELS:
            query = query.where(OutboxMessage.channel == canal)
        messages = (await db_session.scalars(query)).all()
        return render(request, "dev_outbox.html", {"messages": messages})
