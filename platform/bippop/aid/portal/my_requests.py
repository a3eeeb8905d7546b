"""``/mes-demandes``: following one's requests; cancel, pause, feedback, and messages to the volunteer through the platform."""

import re
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.deps import signed_in_person
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.aid import lifecycle
from bippop.aid.contact import short_name
from bippop.aid.lifecycle import LifecycleError
from bippop.aid.models import (
    Appointment,
    HelpRequest,
    RequestMessage,
)
from bippop.aid.portal.common import (
    ACTIVE,
    PARIS,
    announce,
    appointment_labels,
    for_whom,
    post_message_page,
    status_label,
    undo,
    visible_modules,
)
from bippop.modules import registry
from bippop.web.drafts import take_draft
from bippop.web.forms import FormData, form_problems
from bippop.web.pages import render_page


class MyRequestsController(Controller):
    """Residents: follow, cancel, give feedback, write to the volunteer through the platform."""

    guards = [requires("requests.ask")]

    @get("/mes-demandes", name="my-requests")
    async def mine(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        me = await signed_in_person(request, db_session)
        people = {p.id: p for p in await for_whom(db_session, me)}
        visible = await visible_modules(request)
        rows = list(
            await db_session.scalars(
                select(HelpRequest)
                .where(
                    HelpRequest.beneficiary_id.in_(list(people) or [me.id]),
                    HelpRequest.module.in_(list(visible)),
                )
                .order_by(HelpRequest.created_at.desc())
                .limit(100)
            )
        )
        items = [
            {
                "request": r,
                "module": registry.module(r.module),
                "for": people.get(r.beneficiary_id),
                "status": status_label(r.status),
            }
            for r in rows
        ]
        return await render_page(request, db_session, "portal/my_requests.html", {"items": items, "me": me})

    async def _mine_or_404(
        self, db_session: AsyncSession, me: Person, request_id: uuid.UUID, *, lock: bool = False
    ) -> HelpRequest:
        # A change locks the row: a coordinator's action on the same request waits, then sees ours.
        found = await db_session.get(HelpRequest, request_id, with_for_update=lock, populate_existing=lock)
        people = {p.id for p in await for_whom(db_session, me)}
        if (
            found is None
            or found.beneficiary_id not in people
            or found.module not in registry.visible_modules(await registry.enabled_slugs(db_session))
        ):
            raise NotFoundException()
        return found

    @get("/mes-demandes/{request_id:uuid}", name="my-request")
    async def detail(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id)
        return await self._detail(request, db_session, me, found, {}, values=await take_draft(request))

    async def _detail(
        self,
        request: Request,
        db_session: AsyncSession,
        me: Person,
        found: HelpRequest,
        errors: dict[str, str],
        status: int = 200,
        values: dict[str, Any] | None = None,
    ) -> Response[str]:
        volunteer = await db_session.get(Person, found.volunteer_id) if found.volunteer_id else None
        appointments = list(
            await db_session.scalars(
                select(Appointment).where(Appointment.request_id == found.id).order_by(Appointment.starts_at)
            )
        )
        messages = list(
            await db_session.scalars(
                select(RequestMessage)
                .where(RequestMessage.request_id == found.id)
                .order_by(RequestMessage.created_at)
            )
        )
        authors = {
            p.id: p
            for p in await db_session.scalars(
                select(Person).where(Person.id.in_([m.author_id for m in messages if m.author_id]))
            )
        }
        context = {
            "item": found,
            "module": registry.module(found.module),
            "status": status_label(found.status),
            "volunteer_name": short_name(volunteer.display_name) if volunteer else None,
            "appointments": appointments,
            "appointment_labels": appointment_labels(),
            "messages": [
                (m, short_name(authors[m.author_id].display_name) if m.author_id in authors else "—")
                for m in messages
            ],
            "errors": errors,
            "values": values or {},
            "can_cancel": found.status in ACTIVE,
            "can_pause": found.recurring and found.status == "scheduled",
            "can_resume": found.status == "paused",
            "wants_feedback": found.status in ("done", "reported"),
            "local": lambda moment: moment.astimezone(PARIS),
            "created": request.query_params.get("created") == "1",
        }
        return await render_page(request, db_session, "portal/my_request.html", context, status=status)

    @post("/mes-demandes/{request_id:uuid}/annuler", name="my-request-cancel")
    async def cancel(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        if invisible := form_problems(data):
            return await self._detail(request, db_session, me, found, invisible, status=400, values=data)
        try:
            outcome = await lifecycle.cancel(
                db_session, found, actor_id=me.id, reason=str(data.get("reason", ""))
            )
        except LifecycleError as exc:
            await undo(db_session, me, found)
            return await self._detail(request, db_session, me, found, {exc.field: exc.message}, status=400)
        await announce(request, db_session, outcome)
        return Redirect(f"/mes-demandes/{found.id}", status_code=303)

    @post("/mes-demandes/{request_id:uuid}/pause", name="my-request-pause")
    async def pause(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        try:
            outcome = await (lifecycle.resume if found.status == "paused" else lifecycle.pause)(
                db_session, found, actor_id=me.id
            )
        except LifecycleError as exc:
            await undo(db_session, me, found)
            return await self._detail(request, db_session, me, found, {"form": exc.message}, status=400)
        await announce(request, db_session, outcome)
        return Redirect(f"/mes-demandes/{found.id}", status_code=303)

    @post("/mes-demandes/{request_id:uuid}/avis", name="my-request-feedback")
    async def feedback(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        rating = str(data.get("rating", ""))
        if invisible := form_problems(data, multiline=("comment",)):
            return await self._detail(request, db_session, me, found, invisible, status=400)
        try:
            outcome = await lifecycle.give_feedback(
                db_session,
                found,
                author_id=me.id,
                rating=int(rating) if re.fullmatch(r"[1-5]", rating) else 0,
                comment=str(data.get("comment", "")),
            )
        except LifecycleError as exc:
            await undo(db_session, me, found)
            return await self._detail(request, db_session, me, found, {exc.field: exc.message}, status=400)
        await announce(request, db_session, outcome)
        return Redirect(f"/mes-demandes/{found.id}?thanks=1", status_code=303)

    @post("/mes-demandes/{request_id:uuid}/message", name="my-request-message")
    async def message(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        return await post_message_page(
            request,
            db_session,
            me,
            found,
            str(data.get("body", "")),
            f"/mes-demandes/{found.id}",
            lambda errors: self._detail(request, db_session, me, found, errors, status=400),
        )
