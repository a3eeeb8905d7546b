"""Telling people what happened to their help requests, through ``notifications.dispatch``.

Interface used by the pages and jobs (kept stable): ``notify(session, person_id=…, purpose=…,
request_id=…, appointment_id=…, dedupe_key=…)`` writes what must be sent in the caller's transaction
and returns the ids of the outbox rows to announce after commit; ``notify_all`` does it for an
``Outcome.notify`` list of (purpose, person id). Jobs, which hold a synchronous session, call
``notify_sync`` with the same arguments and their settings.

What the request adds to the news (``RequestNews``): the kind of help, the date of the appointment,
the other party's first name and the links to the request's page. Someone no message can reach gets a
coordinator task « phone this person » (``CoordinatorCalls``, the fallback this module registers with
notifications, for the pages and the worker alike, since both import it); and the volunteers' daily
digest of the requests offered to them is written here (``digest_sync``).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Iterable, Sequence

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop import clock
from bippop.accounts.models import Person
from bippop.aid.models import Appointment, CoordinatorTask, HelpRequest
from bippop.config import Settings
from bippop.geography import distance_km
from bippop.modules.registry import module as find_module
from bippop.notifications import dispatch, unreachable
from bippop.notifications.dispatch import Context, Subject, already_planned, context_for, fit_sms
from bippop.notifications.providers import channel_available, is_mobile, to_e164
from bippop.notifications.wording import area_of, first_name, speaking
from bippop.outbox.writing import write_message
from bippop.web.i18n import _, current_locale, ngettext

# The other party's first name is worth giving for these (the volunteer to the person helped, and back).
WITH_OTHER = frozenset(
    {
        "request_matched",
        "request_assigned",
        "appointment_scheduled",
        "appointment_reminder",
        "series_paused",
        "series_resumed",
    }
)
APPOINTMENT_PURPOSES = frozenset({"appointment_scheduled", "appointment_reminder"})


# Someone no message reaches: a coordinator phones them -----------------------------------------

NO_SHOW_NOTE = "no_show"  # the call task of two visits that found nobody (aid/lifecycle/visits.py)


def call_task(
    session: Session,
    person_id: uuid.UUID,
    purpose: str,
    *,
    request_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
) -> None:
    """A coordinator phones the person, once per ``dedupe_key``; while a call to them about the same
    request is open, news about it joins that call rather than making a second (one call tells the person
    all of it). News about another request, or a call of another reason (nobody at home twice), gets its
    own task: it must not vanish into a call about something else."""
    same_request = (
        CoordinatorTask.request_id.is_(None)
        if request_id is None
        else CoordinatorTask.request_id == request_id
    )
    waiting = session.scalar(
        select(CoordinatorTask.id)
        .where(
            CoordinatorTask.person_id == person_id,
            CoordinatorTask.kind == "call_person",
            CoordinatorTask.status == "open",
            same_request,
            CoordinatorTask.note.is_distinct_from(NO_SHOW_NOTE),
        )
        .limit(1)
    )
    if waiting is not None:
        return
    session.execute(
        insert(CoordinatorTask)
        .values(
            id=uuid.uuid4(),
            kind="call_person",
            person_id=person_id,
            request_id=request_id,
            note=purpose[:300],
            dedupe_key=dedupe_key,
            status="open",
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


class CoordinatorCalls:
    """notifications' fallback: a « phone this person » task, at planning and at delivery alike."""

    def reach(self, session: Session, who: unreachable.Unreachable) -> None:
        call_task(session, who.person_id, who.purpose, request_id=who.about_id, dedupe_key=who.dedupe_key)

    def planned(self, session: Session, dedupe_key: str) -> bool:
        found = session.scalar(select(CoordinatorTask.id).where(CoordinatorTask.dedupe_key == dedupe_key))
        return found is not None


# Registered here, the module every path that notifies about aid imports (pages, aid/jobs.py, the worker).
unreachable.register(CoordinatorCalls())


# News about a request -------------------------------------------------------------------------


def links(
    context: Context,
    purpose: str,
    person: Person,
    request: HelpRequest | None,
    appointment: Appointment | None,
) -> tuple[str | None, str | None]:
    """(page of the request, short link for a text) for this person."""
    base = context.base_url
    if not base or request is None:
        return None, None
    as_volunteer = person.id in (request.volunteer_id, appointment.volunteer_id if appointment else None)
    if purpose == "request_released":
        return f"{base}/benevole", f"{base}/benevole"
    if as_volunteer or (purpose == "request_assigned"):
        return f"{base}/benevole/demandes/{request.id}", f"{base}/benevole"
    return f"{base}/mes-demandes/{request.id}", f"{base}/mes-demandes"


def next_appointment(session: Session, request_id: uuid.UUID, now: datetime.datetime) -> Appointment | None:
    found: Appointment | None = session.scalar(
        select(Appointment)
        .where(
            Appointment.request_id == request_id,
            Appointment.status == "scheduled",
            Appointment.starts_at > now,
        )
        .order_by(Appointment.starts_at)
        .limit(1)
    )
    return found


@dataclasses.dataclass(frozen=True)
class RequestNews:
    """What ``purpose`` says about a request (or its appointment) to one recipient: a ``Describe``."""

    purpose: str
    request_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    now: datetime.datetime

    def __call__(self, session: Session, person: Person, context: Context) -> Subject:
        request = session.get(HelpRequest, self.request_id) if self.request_id else None
        appointment = session.get(Appointment, self.appointment_id) if self.appointment_id else None
        if appointment is None and request is not None and self.purpose in APPOINTMENT_PURPOSES:
            appointment = next_appointment(session, request.id, self.now)
        if request is None and appointment is not None:
            request = session.get(HelpRequest, appointment.request_id)
        if request is None:
            return dispatch.plain_subject(context, self.purpose)  # about no request (a module's news)
        page, short_link = links(context, self.purpose, person, request, appointment)
        manifest = find_module(request.module) if request is not None else None
        with_date = appointment is not None and self.purpose in APPOINTMENT_PURPOSES
        return Subject(
            about_id=request.id if request is not None else None,
            module=manifest.name if manifest else None,
            when=appointment.starts_at if appointment is not None and with_date else None,
            other=self._other(session, person, request, appointment),
            link=page,
            short_link=short_link,
        )

    def _other(
        self, session: Session, person: Person, request: HelpRequest | None, appointment: Appointment | None
    ) -> str | None:
        """The first name of the other party of the request, for the purposes that give it."""
        if request is None or self.purpose not in WITH_OTHER:
            return None
        volunteer_id = appointment.volunteer_id if appointment else request.volunteer_id
        other_id = request.beneficiary_id if person.id == volunteer_id else volunteer_id
        other_person = session.get(Person, other_id) if other_id and other_id != person.id else None
        return first_name(other_person.display_name) if other_person else None


def notify_sync(
    session: Session,
    *,
    person_id: uuid.UUID,
    purpose: str,
    request_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
    tenant_name: str = "",
    link: str | None = None,
    settings: Settings | None = None,
    now: datetime.datetime | None = None,
) -> list[uuid.UUID]:
    """``notify`` for a synchronous session (jobs); see the module docstring."""
    return dispatch.notify_sync(
        session,
        person_id=person_id,
        purpose=purpose,
        dedupe_key=dedupe_key,
        tenant_name=tenant_name,
        link=link,
        settings=settings,
        about=RequestNews(purpose, request_id, appointment_id, now or clock.now()),
    )


async def notify(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    purpose: str,
    request_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
    tenant_name: str = "",
    link: str | None = None,
    settings: Settings | None = None,
) -> list[uuid.UUID]:
    return await dispatch.notify(
        session,
        person_id=person_id,
        purpose=purpose,
        dedupe_key=dedupe_key,
        tenant_name=tenant_name,
        link=link,
        settings=settings,
        about=RequestNews(purpose, request_id, appointment_id, clock.now()),
    )


async def notify_all(
    session: AsyncSession,
    pairs: Iterable[tuple[str, uuid.UUID]],
    *,
    request_id: uuid.UUID | None = None,
    tenant_name: str = "",
    settings: Settings | None = None,
) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for purpose, person_id in pairs:
        ids.extend(
            await notify(
                session,
                person_id=person_id,
                purpose=purpose,
                request_id=request_id,
                tenant_name=tenant_name,
                settings=settings,
            )
        )
    return ids


# The volunteers' daily digest -----------------------------------------------------------------


def digest_sync(
    session: Session,
    volunteer: Person,
    requests: Sequence[HelpRequest],
    *,
    dedupe_key: str,
    settings: Settings | None = None,
) -> list[uuid.UUID]:
    """One message listing ``requests`` for ``volunteer``: an e-mail when they have an address (the list
    needs one), else a text with the count and a link; nothing for someone reachable neither way."""
    if not requests or volunteer.disabled_at is not None or already_planned(session, dedupe_key):
        return []
    context = context_for(session, settings)
    base = context.base_url
    phone = to_e164(volunteer.phone)
    if volunteer.email:
        channel, recipient = "email", volunteer.email
    elif phone and is_mobile(phone) and channel_available(session, context.settings, "sms"):
        channel, recipient = "sms", phone
    else:
        return []
    with speaking(volunteer.locale):
        title = ngettext(
            "%(num)d request for help near you", "%(num)d requests for help near you", len(requests)
        ) % {"num": len(requests)}
        if channel == "sms":
            subject = title
            body = fit_sms(
                " ".join([_("Hello %(name)s.") % {"name": first_name(volunteer.display_name)}, title + "."]),
                f"{base}/benevole" if base else None,
            )
        else:
            subject = f"{title} — {context.tenant_name}"
            body = _digest_email(session, volunteer, requests, context)
    written = write_message(
        session,
        channel=channel,
        purpose="volunteer_digest",
        recipient=recipient,
        subject=subject,
        body=body,
        person_id=volunteer.id,
        dedupe_key=dedupe_key,
    )
    return [written] if written is not None else []


def _digest_email(
    session: Session, volunteer: Person, requests: Sequence[HelpRequest], context: Context
) -> str:
    """The digest's e-mail: each request's kind of help, commune and distance, with its link."""
    base = context.base_url
    lines = [
        _("Hello %(name)s,") % {"name": first_name(volunteer.display_name)},
        "",
        _("These requests are waiting for a volunteer. Open one to read it and answer if you can."),
        "",
    ]
    for request in requests:
        manifest = find_module(request.module)
        beneficiary = session.get(Person, request.beneficiary_id)
        item = f"• {manifest.name if manifest else request.module} — {area_of(beneficiary, context.tenant)}"
        lat, lon = request.latitude, request.longitude
        home_lat, home_lon = volunteer.latitude, volunteer.longitude
        if lat is not None and lon is not None and home_lat is not None and home_lon is not None:
            km = distance_km(lat, lon, home_lat, home_lon)
            shown = format_decimal(max(km, 0.1), "0.0", locale=current_locale.get())
            item += " — " + _("about %(km)s km away") % {"km": shown}
        lines.append(item)
        if base:
            lines.append(f"  {base}/benevole/demandes/{request.id}")
    lines.extend(
        [
            "",
            _("You receive this summary at most once a day, only when there are new requests."),
            "",
            "— " + context.tenant_name,
        ]
    )
    return "\n".join(lines)
