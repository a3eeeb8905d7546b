"""``/benevole/demandes``: a request as the volunteer sees it; pop, decline, set the appointment, withdraw, write."""

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.deps import signed_in_person
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.aid import lifecycle
from bippop.aid.contact import contact_for
from bippop.aid.lifecycle import AlreadyTaken, LifecycleError
from bippop.aid.models import (
    Appointment,
    HelpRequest,
    RequestMessage,
    RequestOffer,
)
from bippop.aid.portal.common import (
    PARIS,
    announce,
    appointment_labels,
    parse_local,
    period_key,
    period_name,
    post_message_page,
    status_label,
    undo,
    weekday_name,
)
from bippop.geography import distance_km
from bippop.modules import registry
from bippop.web.forms import FormData, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render_page


class VolunteerRequestsController(Controller):
    """A request offered to or taken by the volunteer, and what they do about it."""

    path = "/benevole"
    guards = [requires("volunteering")]

    async def _request_or_404(
        self,
        db_session: AsyncSession,
        me: Person,
        request_id: uuid.UUID,
        *,
        lock: bool = False,
        eligible_only: bool = True,
    ) -> HelpRequest:
        """The request as this volunteer may see it; ``eligible_only=False`` for popping only, where the
        lifecycle refuses an ineligible volunteer itself and says why, showing nothing of the person."""
        found = await db_session.get(HelpRequest, request_id, with_for_update=lock, populate_existing=lock)
        if found is None or found.module not in registry.visible_modules(
            await registry.enabled_slugs(db_session)
        ):
            raise NotFoundException()
        if found.volunteer_id not in (None, me.id):
            raise NotFoundException()  # someone else's visit: nothing to see here
        if found.volunteer_id is None and found.status not in ("open", "offered"):
            raise NotFoundException()  # no longer looking for anyone
        manifest = registry.module(found.module)
        if (
            eligible_only
            and found.volunteer_id is None
            and (manifest is None or lifecycle.eligibility_problem(manifest, me, clock.today()))
        ):
            raise NotFoundException()  # not vetted or skilled for it: the dashboard does not list it either
        return found

    @get("/demandes/{request_id:uuid}", name="volunteer-request")
    async def request_page(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id)
        return await self._request_view(request, db_session, me, found, {})

    async def _request_view(
        self,
        request: Request,
        db_session: AsyncSession,
        me: Person,
        found: HelpRequest,
        errors: dict[str, str],
        status: int = 200,
        values: dict[str, Any] | None = None,
    ) -> Response[str]:
        beneficiary = await db_session.get(Person, found.beneficiary_id)
        assert beneficiary is not None
        contact = await contact_for(db_session, viewer=me, request=found, beneficiary=beneficiary)
        await db_session.commit()  # the audited read of the contact details
        km = None
        if None not in (found.latitude, found.longitude, me.latitude, me.longitude):
            km = distance_km(found.latitude, found.longitude, me.latitude, me.longitude)  # type: ignore[arg-type]
        messages = list(
            await db_session.scalars(
                select(RequestMessage)
                .where(RequestMessage.request_id == found.id)
                # Not (yet) the volunteer of this request: only what they wrote themselves.
                .where(true() if found.volunteer_id == me.id else RequestMessage.author_id == me.id)
                .order_by(RequestMessage.created_at)
            )
        )
        appointments = list(
            await db_session.scalars(
                select(Appointment)
                .where(Appointment.request_id == found.id, Appointment.volunteer_id == me.id)
                .order_by(Appointment.starts_at)
            )
        )
        context = {
            "item": found,
            "module": registry.module(found.module),
            "contact": contact,
            "km": km,
            "mine": found.volunteer_id == me.id,
            "messages": [(m, m.author_id == me.id) for m in messages],
            "appointments": appointments,
            "appointment_labels": appointment_labels(),
            "windows": [
                f"{weekday_name(w['weekday'])} {period_name(period_key(w['start_minute']))}"
                for w in found.preferred_windows
            ],
            "errors": errors,
            "values": values or {},
            "status": status_label(found.status),
            "local": lambda moment: moment.astimezone(PARIS),
        }
        return await render_page(request, db_session, "portal/volunteer_request.html", context, status=status)

    @post("/demandes/{request_id:uuid}/pop", name="volunteer-pop")
    async def pop(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True, eligible_only=False)
        try:
            outcome = await lifecycle.pop(db_session, found, me)
        except LifecycleError as exc:
            await undo(db_session, me, found)
            return await render_page(
                request,
                db_session,
                "portal/pop_refused.html",
                {"message": exc.message, "taken": isinstance(exc, AlreadyTaken)},
                status=409 if isinstance(exc, AlreadyTaken) else 400,
            )
        await announce(request, db_session, outcome)
        return Redirect(f"/benevole/demandes/{found.id}?merci=1", status_code=303)

    @post("/demandes/{request_id:uuid}/decliner", name="volunteer-decline")
    async def decline(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        offer = await db_session.scalar(
            select(RequestOffer).where(
                RequestOffer.request_id == found.id, RequestOffer.volunteer_id == me.id
            )
        )
        if offer is None:
            offer = RequestOffer(id=uuid.uuid4(), request_id=found.id, volunteer_id=me.id)
            db_session.add(offer)
        offer.declined_at = lifecycle.now_utc()
        await db_session.commit()
        return Redirect("/benevole", status_code=303)

    @post("/demandes/{request_id:uuid}/rendez-vous", name="volunteer-schedule")
    async def schedule(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        values = {"day": str(data.get("day", "")), "time": str(data.get("time", ""))}
        starts_at = parse_local(values["day"], values["time"])
        if invisible := form_problems(data):
            return await self._request_view(
                request, db_session, me, found, invisible, status=400, values=values
            )
        if starts_at is None:
            return await self._request_view(
                request,
                db_session,
                me,
                found,
                {"day": _("Enter a date like 14/03/2027 and a time like 14:30.")},
                status=400,
                values=values,
            )
        if found.volunteer_id != me.id:
            raise NotFoundException()
        try:
            outcome = await lifecycle.schedule(db_session, found, starts_at, actor_id=me.id)
        except LifecycleError as exc:
            await undo(db_session, me, found)
            field = "day" if exc.field == "starts_at" else exc.field
            return await self._request_view(
                request, db_session, me, found, {field: exc.message}, status=400, values=values
            )
        await announce(request, db_session, outcome)
        return Redirect(f"/benevole/demandes/{found.id}", status_code=303)

    @post("/demandes/{request_id:uuid}/retrait", name="volunteer-withdraw")
    async def withdraw(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        reason = str(data.get("reason", "")).strip()
        if invisible := form_problems(data):
            return await self._request_view(request, db_session, me, found, invisible, status=400)
        if not reason:
            return await self._request_view(
                request,
                db_session,
                me,
                found,
                {"reason": _("Please say in a few words why, so that everyone understands.")},
                status=400,
            )
        try:
            outcome = await lifecycle.release(
                db_session, found, action="withdraw", actor_id=me.id, reason=reason
            )
        except LifecycleError as exc:
            await undo(db_session, me, found)
            return await self._request_view(
                request, db_session, me, found, {"reason": exc.message}, status=400
            )
        await announce(request, db_session, outcome)
        return Redirect("/benevole", status_code=303)

    @post("/demandes/{request_id:uuid}/message", name="volunteer-message")
    async def message(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        return await post_message_page(
            request,
            db_session,
            me,
            found,
            str(data.get("body", "")),
            f"/benevole/demandes/{found.id}",
            lambda errors: self._request_view(request, db_session, me, found, errors, status=400),
        )
