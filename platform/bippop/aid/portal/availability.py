"""``/benevole/disponibilites``: when the volunteer is free, by weekday and period."""

import re
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.deps import signed_in_person
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.aid.models import (
    AvailabilityWindow,
)
from bippop.aid.portal.common import (
    PERIODS,
    WEEKDAYS,
    period_key,
    period_name,
    weekday_name,
    windows_from_form,
)
from bippop.web.forms import FormData, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render_page


class AvailabilityController(Controller):
    """When the volunteer is free."""

    path = "/benevole"
    guards = [requires("volunteering")]

    @get("/disponibilites", name="volunteer-availability")
    async def availability_form(
        self, request: Request, db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        windows = list(
            await db_session.scalars(select(AvailabilityWindow).where(AvailabilityWindow.person_id == me.id))
        )
        chosen = [f"{w.weekday}-{period_key(w.start_minute)}" for w in windows]
        return await self._availability_page(
            request, db_session, me, {"when": chosen, "max_distance_km": str(me.max_distance_km)}, {}
        )

    async def _availability_page(
        self,
        request: Request,
        db_session: AsyncSession,
        me: Person,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[str]:
        context = {
            "values": values,
            "errors": errors,
            "weekdays": [(d, weekday_name(d)) for d in WEEKDAYS],
            "periods": [(p, period_name(p)) for p in PERIODS],
            "when": values.get("when", []),
        }
        return await render_page(request, db_session, "portal/availability.html", context, status=status)

    @post("/disponibilites")
    async def availability(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        distance = str(data.get("max_distance_km", "")).strip()
        if invisible := form_problems(data):
            when = data.get("when", [])
            values = {"when": [when] if isinstance(when, str) else list(when), "max_distance_km": distance}
            return await self._availability_page(request, db_session, me, values, invisible, status=400)
        if not re.fullmatch(r"[0-9]{1,2}", distance) or not 1 <= int(distance) <= 50:
            when = data.get("when", [])
            return await self._availability_page(
                request,
                db_session,
                me,
                {"when": [when] if isinstance(when, str) else list(when), "max_distance_km": distance},
                {"max_distance_km": _("Enter a distance between 1 and 50 km.")},
                status=400,
            )
        me.max_distance_km = int(distance)
        for old in await db_session.scalars(
            select(AvailabilityWindow).where(AvailabilityWindow.person_id == me.id)
        ):
            await db_session.delete(old)
        for window in windows_from_form(data):
            db_session.add(AvailabilityWindow(id=uuid.uuid4(), person_id=me.id, **window))
        await db_session.commit()
        return Redirect("/benevole?disponibilites=1", status_code=303)
