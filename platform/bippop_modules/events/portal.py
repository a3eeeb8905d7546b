"""``/evenements``: the commune's events; residents and volunteers register (waiting list when full).
The module's guard (``modules.assembly``) answers 404 where the council switched the module off."""

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.auth import current_identity
from bippop.accounts.deps import signed_in_person
from bippop.accounts.permissions import allowed, requires
from bippop.aid.portal.common import PARIS
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.deps import tenant_of
from bippop.web.pages import render_page
from bippop_modules.events import registrations as event_service
from bippop_modules.events.models import Event, EventRegistration
from bippop_modules.events.services import leave_event


class EventsController(Controller):
    """Events of the commune: everyone sees them; residents and volunteers register (waiting list when full)."""

    path = "/evenements"

    @get("/", opt={"public": True}, name="events")
    async def list_events(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        identity = current_identity(request)
        now = clock.now()
        events = list(
            await db_session.scalars(
                select(Event)
                .where(Event.starts_at > now, Event.cancelled_at.is_(None))
                .order_by(Event.starts_at)
                .limit(50)
            )
        )
        counts = dict(
            (
                await db_session.execute(
                    select(EventRegistration.event_id, func.count())
                    .where(
                        EventRegistration.event_id.in_([e.id for e in events]),
                        EventRegistration.status == "registered",
                    )
                    .group_by(EventRegistration.event_id)
                )
            ).all()
        )
        mine: dict[uuid.UUID, str] = {}
        if identity is not None and identity.kind == "person":
            mine = dict(
                (
                    await db_session.execute(
                        select(EventRegistration.event_id, EventRegistration.status).where(
                            EventRegistration.person_id == identity.person_id,
                            EventRegistration.status != "cancelled",
                        )
                    )
                ).all()
            )
        items = [{"event": e, "taken": counts.get(e.id, 0), "mine": mine.get(e.id)} for e in events]
        can_join = (
            identity is not None and identity.kind == "person" and allowed(identity.roles, "events.join")
        )
        return await render_page(
            request,
            db_session,
            "modules/events/portal_events.html",
            {
                "items": items,
                "can_join": can_join,
                "local": lambda m: m.astimezone(PARIS),
                "done": request.query_params.get("inscrit"),
            },
        )

    async def _event_or_404(self, db_session: AsyncSession, event_id: uuid.UUID) -> Event:
        event = await db_session.get(Event, event_id)
        if event is None or event.cancelled_at is not None:
            raise NotFoundException()
        return event

    @post("/{event_id:uuid}/inscription", guards=[requires("events.join")], name="event-register")
    async def register(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        event = await self._event_or_404(db_session, event_id)
        try:
            status = await event_service.register(db_session, event, me)
        except event_service.EventError as exc:
            await db_session.rollback()
            return await render_page(
                request,
                db_session,
                "portal/pop_refused.html",
                {"message": exc.message, "taken": False, "back": "/evenements"},
                status=409,
            )
        await db_session.commit()
        return Redirect(f"/evenements?inscrit={status}#event-{event.id}", status_code=303)

    @post("/{event_id:uuid}/desinscription", guards=[requires("events.join")], name="event-unregister")
    async def unregister(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        event = await self._event_or_404(db_session, event_id)
        try:
            ids = await leave_event(db_session, event, me, tenant_name=tenant_of(request).name)
        except event_service.EventError as exc:
            await db_session.rollback()
            return await render_page(
                request,
                db_session,
                "portal/pop_refused.html",
                {"message": exc.message, "taken": False, "back": "/evenements"},
                status=409,
            )
        await commit_and_announce(request, db_session, ids)
        return Redirect(f"/evenements#event-{event.id}", status_code=303)
