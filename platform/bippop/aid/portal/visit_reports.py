"""``/benevole/rendez-vous``: after a visit, its report (mood, warning signs) or « nobody at home »."""

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.deps import signed_in_person
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.aid import lifecycle
from bippop.aid.lifecycle import LifecycleError
from bippop.aid.models import (
    Appointment,
    HelpRequest,
)
from bippop.aid.portal.common import (
    PARIS,
    announce,
    mood_label,
    sign_label,
    undo,
)
from bippop.modules import registry
from bippop.web.drafts import take_draft
from bippop.web.forms import FormData, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render_page


class VisitReportsController(Controller):
    """The volunteer's report of a visit."""

    path = "/benevole"
    guards = [requires("volunteering")]

    async def _appointment_or_404(
        self, db_session: AsyncSession, me: Person, appointment_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Appointment, HelpRequest]:
        appointment = await db_session.get(Appointment, appointment_id)
        if appointment is None or appointment.volunteer_id != me.id:
            raise NotFoundException()
        found = await db_session.get(
            HelpRequest, appointment.request_id, with_for_update=lock, populate_existing=lock
        )
        if found is None:
            raise NotFoundException()
        return appointment, found

    @get("/rendez-vous/{appointment_id:uuid}/compte-rendu", name="visit-report")
    async def report_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], appointment_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        appointment, found = await self._appointment_or_404(db_session, me, appointment_id)
        return await self._report_page(request, db_session, appointment, found, await take_draft(request), {})

    async def _report_page(
        self,
        request: Request,
        db_session: AsyncSession,
        appointment: Appointment,
        found: HelpRequest,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[str]:
        from bippop.aid.models import MOODS, WARNING_SIGNS

        signs = values.get("warning_signs", [])
        context = {
            "appointment": appointment,
            "item": found,
            "module": registry.module(found.module),
            "values": values,
            "signs_chosen": [signs] if isinstance(signs, str) else list(signs),
            "errors": errors,
            "moods": [(m, mood_label(m)) for m in MOODS],
            "signs": [(s, sign_label(s)) for s in WARNING_SIGNS],
            "local": lambda moment: moment.astimezone(PARIS),
        }
        return await render_page(request, db_session, "portal/visit_report.html", context, status=status)

    @post("/rendez-vous/{appointment_id:uuid}/compte-rendu")
    async def report(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        appointment_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        appointment, found = await self._appointment_or_404(db_session, me, appointment_id, lock=True)
        signs = data.get("warning_signs", [])
        signs = [signs] if isinstance(signs, str) else list(signs)
        if invisible := form_problems(data, multiline=("observations",)):
            return await self._report_page(
                request, db_session, appointment, found, dict(data), invisible, status=400
            )
        if appointment.starts_at > lifecycle.now_utc():
            return await self._report_page(
                request,
                db_session,
                appointment,
                found,
                dict(data),
                {"form": _("This visit has not happened yet: you can report it afterwards.")},
                status=400,
            )
        try:
            outcome = await lifecycle.report(
                db_session,
                found,
                appointment,
                author=me,
                mood=str(data.get("mood", "")),
                observations=str(data.get("observations", "")),
                warning_signs=signs,
            )
        except LifecycleError as exc:
            await undo(db_session, me, found, appointment)
            return await self._report_page(
                request, db_session, appointment, found, dict(data), {exc.field: exc.message}, status=400
            )
        try:
            await announce(request, db_session, outcome)
        except IntegrityError:  # the same report sent twice at once: the first one counts
            await undo(db_session, me, found, appointment)
            return Redirect("/benevole?rapport=1", status_code=303)
        return Redirect("/benevole?rapport=1", status_code=303)

    @post(
        "/rendez-vous/{appointment_id:uuid}/absent",
        name="visit-no-show",
        opt={"page": "/benevole/rendez-vous/{appointment_id}/compte-rendu"},  # its button is on the report
    )
    async def no_show(
        self, request: Request, db_session: NamedDependency[AsyncSession], appointment_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """Nobody opened the door: recorded; twice in a row, the coordinators are asked to phone."""
        me = await signed_in_person(request, db_session)
        appointment, found = await self._appointment_or_404(db_session, me, appointment_id, lock=True)
        try:
            outcome = await lifecycle.complete(db_session, found, appointment, actor_id=me.id, no_show=True)
        except LifecycleError as exc:
            await undo(db_session, me, found, appointment)
            return await self._report_page(
                request, db_session, appointment, found, {}, {"form": exc.message}, status=400
            )
        await announce(request, db_session, outcome)
        return Redirect("/benevole?absent=1", status_code=303)
