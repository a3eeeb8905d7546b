"""A volunteer's appointments as an iCalendar feed their calendar app subscribes to.

``/agenda/<token>.ics`` is public (calendar apps send no cookie): the token is a 256-bit secret
shown once on the volunteer's page, of which only the SHA-256 is kept (``people.calendar_token_hash``);
making a new one retires the old address. The feed holds the next 90 days of scheduled
appointments; an event names the kind of help, the person's first name and their commune, never
their phone number or address. Tokens are looked up in the schema of the host's tenant only, so a
token used on another tenant's host finds nothing (404).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import Any

import icalendar
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import any_, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.models import Person
from bippop.aid.models import Appointment, HelpRequest
from bippop.modules.registry import module as find_module
from bippop.notifications.wording import area_of, first_name, speaking
from bippop.tenants.context import TenantRef
from bippop.tenants.urls import tenant_url
from bippop.web.i18n import _

HORIZON = datetime.timedelta(days=90)
SUFFIX = ".ics"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def new_calendar_token(session: AsyncSession, person: Person) -> str:
    """A new secret for ``person``'s feed (the previous address stops working); returns it in clear,
    to be shown once. The caller commits."""
    token = secrets.token_urlsafe(32)
    person.calendar_token_hash = token_hash(token)
    await session.flush()
    return token


def build_calendar(
    person: Person,
    rows: list[tuple[Appointment, HelpRequest, Person | None]],
    *,
    tenant: TenantRef | None,
    base_url: str,
    now: datetime.datetime,
) -> bytes:
    """The feed: one VEVENT per appointment, in the volunteer's language."""
    with speaking(person.locale):
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//Bip Pop//Agenda//FR")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", "PUBLISH")
        name = _("My visits — %(service)s") % {"service": tenant.name if tenant else "Bip Pop"}
        calendar.add("x-wr-calname", name)
        calendar.add("name", name)
        calendar.add("refresh-interval", datetime.timedelta(hours=1), parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", "PT1H")
        for appointment, request, beneficiary in rows:
            manifest = find_module(request.module)
            module = str(manifest.name) if manifest else request.module
            link = f"{base_url}/benevole/demandes/{request.id}"
            event = icalendar.Event()
            event.add("uid", f"{appointment.id}@bippop")
            event.add("dtstamp", now)
            event.add("last-modified", appointment.updated_at)
            event.add("dtstart", appointment.starts_at.astimezone(datetime.UTC))
            event.add("dtend", appointment.ends_at.astimezone(datetime.UTC))
            event.add(
                "summary",
                _("%(module)s with %(name)s")
                % {"module": module, "name": first_name(beneficiary.display_name if beneficiary else "")},
            )
            event.add("location", area_of(beneficiary, tenant))
            event.add("description", _("See the request: %(link)s") % {"link": link})
            event.add("url", link)
            event.add("status", "CONFIRMED")
            event.add("transp", "OPAQUE")
            calendar.add_component(event)
        return bytes(calendar.to_ical())


async def upcoming(
    session: AsyncSession, person: Person, now: datetime.datetime
) -> list[tuple[Appointment, HelpRequest, Person | None]]:
    rows = (
        await session.execute(
            select(Appointment, HelpRequest)
            .join(HelpRequest, HelpRequest.id == Appointment.request_id)
            .where(
                Appointment.volunteer_id == person.id,
                Appointment.status == "scheduled",
                Appointment.ends_at > now,
                Appointment.starts_at < now + HORIZON,
            )
            .order_by(Appointment.starts_at)
        )
    ).all()
    ids = {request.beneficiary_id for _appointment, request in rows}
    people = {p.id: p for p in await session.scalars(select(Person).where(Person.id.in_(ids)))} if ids else {}
    return [(appointment, request, people.get(request.beneficiary_id)) for appointment, request in rows]


class CalendarFeedController(Controller):
    path = "/agenda"

    @get("/{feed:str}", opt={"public": True, "touch_session": False}, name="calendar-feed")
    async def feed(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], feed: FromPath[str]
    ) -> Response[bytes]:
        """``/agenda/<token>.ics``: the volunteer's next 90 days, as text/calendar."""
        token = feed[: -len(SUFFIX)] if feed.endswith(SUFFIX) else ""
        if not 32 <= len(token) <= 64:
            raise NotFoundException()
        person = await db_session.scalar(
            select(Person).where(
                Person.calendar_token_hash == token_hash(token),
                Person.disabled_at.is_(None),
                literal("volunteer") == any_(Person.roles),
            )
        )
        if person is None:
            raise NotFoundException()
        now = clock.now()
        site = request.state.get("site")
        tenant = site.tenant if site is not None else None
        base_url = tenant_url(tenant, "", request.app.state.settings) if tenant is not None else ""
        body = build_calendar(
            person, await upcoming(db_session, person, now), tenant=tenant, base_url=base_url, now=now
        )
        return Response(
            content=body,
            media_type="text/calendar; charset=utf-8",
            headers={
                "Cache-Control": "private, max-age=300",
                "Content-Disposition": 'inline; filename="agenda.ics"',
                "X-Robots-Tag": "noindex",
            },
        )
