"""``/benevole``: the volunteer's dashboard (requests near me, what comes next) and calendar link."""

import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.deps import signed_in_person
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.aid import lifecycle
from bippop.aid.models import (
    Appointment,
    AvailabilityWindow,
    HelpRequest,
    RequestOffer,
    VisitReport,
)
from bippop.aid.portal.common import (
    PARIS,
    period_of,
    visible_modules,
    weekday_name,
)
from bippop.geography import distance_km
from bippop.modules import registry
from bippop.tenants.urls import tenant_url
from bippop.web.deps import tenant_of
from bippop.web.pages import render_page


async def _requests_near(
    db_session: AsyncSession, me: Person, visible: frozenset[str], today: datetime.date
) -> list[dict[str, Any]]:
    """Requests the volunteer could take: offered to them first, then the nearest within their radius."""
    offers = await db_session.execute(  # offered to me, and declined by me: one query
        select(RequestOffer.request_id, RequestOffer.declined_at.is_not(None)).where(
            RequestOffer.volunteer_id == me.id
        )
    )
    offered_ids: set[Any] = set()
    declined: set[Any] = set()
    for request_id, was_declined in offers:
        (declined if was_declined else offered_ids).add(request_id)
    candidates = list(
        await db_session.scalars(
            select(HelpRequest)
            .where(HelpRequest.status.in_(("open", "offered")), HelpRequest.module.in_(list(visible)))
            .order_by(HelpRequest.created_at.desc())
            .limit(300)
        )
    )
    near = []
    for item in candidates:
        manifest = registry.module(item.module)
        if manifest is None or item.id in declined or lifecycle.eligibility_problem(manifest, me, today):
            continue
        km = None
        if None not in (item.latitude, item.longitude, me.latitude, me.longitude):
            km = distance_km(item.latitude, item.longitude, me.latitude, me.longitude)  # type: ignore[arg-type]
        if km is not None and km > me.max_distance_km and item.id not in offered_ids:
            continue
        near.append({"request": item, "module": manifest, "km": km, "offered": item.id in offered_ids})
    near.sort(key=lambda n: (not n["offered"], n["km"] if n["km"] is not None else 999))
    return near


async def _visits(
    db_session: AsyncSession, me: Person, now: datetime.datetime
) -> tuple[list[Any], list[Any]]:
    """The volunteer's appointments still to come (or of the last day), and past visits not yet reported."""
    appointments = list(
        await db_session.execute(
            select(Appointment, HelpRequest)
            .join(HelpRequest, HelpRequest.id == Appointment.request_id)
            .where(
                Appointment.volunteer_id == me.id,
                Appointment.status == "scheduled",
                Appointment.ends_at > now - datetime.timedelta(days=1),
            )
            .order_by(Appointment.starts_at)
            .limit(50)
        )
    )
    reported = (
        select(VisitReport.id)
        .where(VisitReport.appointment_id == Appointment.id, VisitReport.author_id == me.id)
        .exists()
    )
    to_report = list(
        await db_session.execute(
            select(Appointment, HelpRequest)
            .join(HelpRequest, HelpRequest.id == Appointment.request_id)
            .where(
                Appointment.volunteer_id == me.id,
                Appointment.status.in_(("done", "scheduled")),
                Appointment.starts_at < now,
                ~reported,
            )
            .order_by(Appointment.starts_at.desc())
            .limit(20)
        )
    )
    return appointments, to_report


class VolunteerController(Controller):
    """The volunteer's dashboard and what they do from it."""

    path = "/benevole"
    guards = [requires("volunteering")]

    @get("/", name="volunteer-dashboard")
    async def dashboard(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        me = await signed_in_person(request, db_session)
        visible = await visible_modules(request)
        today = clock.today()
        now = lifecycle.now_utc()
        near = await _requests_near(db_session, me, visible, today)
        appointments, to_report = await _visits(db_session, me, now)
        mine = list(
            await db_session.scalars(
                select(HelpRequest).where(
                    HelpRequest.volunteer_id == me.id,
                    HelpRequest.status.in_(("matched", "scheduled", "paused")),
                )
            )
        )
        windows = list(
            await db_session.scalars(
                select(AvailabilityWindow)
                .where(AvailabilityWindow.person_id == me.id)
                .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_minute)
            )
        )
        context = {
            "me": me,
            "near": near[:30],
            "appointments": [(a, r, registry.module(r.module)) for a, r in appointments if a.starts_at > now],
            "to_report": [(a, r, registry.module(r.module)) for a, r in to_report],
            "mine": [(r, registry.module(r.module)) for r in mine if r.module in visible],
            "windows": [f"{weekday_name(w.weekday)} {period_of(w)}" for w in windows],
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
