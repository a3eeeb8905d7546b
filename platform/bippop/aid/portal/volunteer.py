"""``/benevole``: the volunteer's dashboard (requests near me, what comes next) and calendar link."""

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.deps import signed_in_identity, signed_in_person
from bippop.accounts.permissions import requires
from bippop.aid import lifecycle
from bippop.aid.portal.common import PARIS, period_of, visible_modules, weekday_name
from bippop.aid.services.dashboard import volunteer_dashboard
from bippop.tenants.urls import tenant_url
from bippop.web.deps import tenant_of
from bippop.web.pages import render_page


class VolunteerController(Controller):
    """The volunteer's dashboard and what they do from it."""

    path = "/benevole"
    guards = [requires("volunteering")]

    @get("/", name="volunteer-dashboard")
    async def dashboard(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        today = clock.today()
        seen = await volunteer_dashboard(
            db_session,
            signed_in_identity(request).person_id,
            await visible_modules(request),
            now=lifecycle.now_utc(),
            today=today,
        )
        if seen is None:  # the person is gone: signing in again
            raise NotAuthorizedException()
        me = seen.me
        context = {
            "me": me,
            "near": seen.near,
            "appointments": seen.appointments,
            "to_report": seen.to_report,
            "mine": seen.mine,
            "windows": [f"{weekday_name(w.weekday)} {period_of(w)}" for w in seen.windows],
            "local": lambda moment: moment.astimezone(PARIS),
            "vetting": me.vetting_on(today),
            "calendar_url": request.query_params.get("agenda"),
        }
        return await render_page(request, db_session, "portal/volunteer_dashboard.html", context)

    @post("/agenda", name="volunteer-calendar")
    async def calendar(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        from bippop.aid import calendar

        token = await calendar.new_calendar_token(db_session, me)
        await db_session.commit()
        url = tenant_url(tenant_of(request), f"/agenda/{token}.ics", request.app.state.settings)
        return await render_page(request, db_session, "portal/calendar_link.html", {"url": url})
