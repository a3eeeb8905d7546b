"""Telling people what happened to their requests, on the channel each prefers.

Interface used by the pages and jobs (kept stable): ``notify(session, person_id=…, purpose=…,
request_id=…, appointment_id=…, dedupe_key=…)`` writes what must be sent in the caller's
transaction and returns the ids of the outbox rows to announce after commit; ``notify_all`` does
it for an ``Outcome.notify`` list of (purpose, person id). Jobs, which hold a synchronous session,
call ``notify_sync`` with the same arguments.

The channel is the first of the person's ``channels`` they can be reached on:

- ``email`` — they have an address: an e-mail with the news and a link to the page;
- ``sms`` — they have a mobile number (and the tenant a provider): a text of one message (160
  characters of the GSM alphabet, no personal detail but a first name) with a short link;
- ``voice`` — they have a phone number (and the tenant a provider): a text read aloud on a call;
- ``coordinator`` — no internet, no mobile: a coordinator task "phone this person".

When none of their choices is possible, an e-mail if they have an address, else a coordinator
task: nobody is left untold. With a ``dedupe_key``, a second call (a retried job) writes nothing,
whatever the channel chosen each time.
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

from bippop.accounts.models import Person
from bippop.aid.models import Appointment, CoordinatorTask, HelpRequest
from bippop.config import Settings
from bippop.geography import distance_km
from bippop.modules.registry import module as find_module
from bippop.notifications.models import OutboxMessage
from bippop.notifications.providers import channel_available, is_mobile, septets, to_e164, to_gsm7
from bippop.notifications.services import write_message
from bippop.notifications.wording import (
    area_of,
    default_title,
    details,
    first_name,
    format_when,
    portal_url,
    sentence,
    speaking,
    titles,
)
from bippop.tenants.context import TenantRef
from bippop.tenants.resources import platform_resources
from bippop.web.i18n import _, current_locale, ngettext

CHANNELS = ("email", "sms", "voice", "coordinator")
SMS_LIMIT = 160  # septets: one message
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


@dataclasses.dataclass
class Context:
    tenant: TenantRef | None
    settings: Settings
    tenant_name: str

    @property
    def base_url(self) -> str:
        return portal_url(self.settings, self.tenant)

    @property
    def contact_phone(self) -> str | None:
        phone = (self.tenant.branding or {}).get("contact_phone") if self.tenant is not None else None
        return str(phone) if phone else None


def _context(session: Session, tenant_name: str = "", settings: Settings | None = None) -> Context:
    tenant = session.info.get("tenant")
    if settings is None:
        settings = platform_resources().settings
    return Context(tenant, settings, tenant_name or (tenant.name if tenant is not None else ""))


# Channel --------------------------------------------------------------------------------------


def choose_channel(session: Session, settings: Settings, person: Person) -> tuple[str, str | None]:
    """(channel, recipient) for ``person``: the first of their choices they can be reached on."""
    phone = to_e164(person.phone)
    for channel in person.channels or ["email"]:
        if channel == "email" and person.email:
            return "email", person.email
        if channel == "sms" and phone and is_mobile(phone) and channel_available(session, settings, "sms"):
            return "sms", phone
        if channel == "voice" and phone and channel_available(session, settings, "voice"):
            return "voice", phone
        if channel == "coordinator":
            return "coordinator", None
    if person.email:
        return "email", person.email
    return "coordinator", None


def fit_sms(text: str, link: str | None) -> str:
    """One text message: the GSM alphabet, 160 septets at most, the link kept whole at the end."""
    text = " ".join(to_gsm7(text).split())
    tail = f" {link}" if link else ""
    room = SMS_LIMIT - septets(tail)
    if septets(text) > room:
        while text and septets(text) > room - 3:
            text = text[:-1]
        text = text.rstrip() + "..."
    return text + tail


def _already_planned(session: Session, dedupe_key: str) -> bool:
    return (
        session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)) is not None
        or session.scalar(select(CoordinatorTask.id).where(CoordinatorTask.dedupe_key == dedupe_key))
        is not None
    )


def call_task(
    session: Session,
    person_id: uuid.UUID,
    purpose: str,
    *,
    request_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
) -> None:
    """A coordinator phones the person (once per ``dedupe_key``)."""
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


# One notification ---------------------------------------------------------------------------


@dataclasses.dataclass
class News:
    """What one notification says, in the recipient's language (built under ``speaking``)."""

    title: str
    detail: str
    module: str | None = None
    when: datetime.datetime | None = None
    other: str | None = None
    link: str | None = None
    short_link: str | None = None
    about_event: bool = False


def _links(
    context: Context,
    purpose: str,
    person: Person,
    request: HelpRequest | None,
    appointment: Appointment | None,
) -> tuple[str | None, str | None]:
    """(page of the request, short link for a text) for this person."""
    base = context.base_url
    if base and purpose.startswith("event_"):
        return f"{base}/evenements", f"{base}/evenements"
    if not base or request is None:
        return None, None
    as_volunteer = person.id in (request.volunteer_id, appointment.volunteer_id if appointment else None)
    if purpose == "request_released":
        return f"{base}/benevole", f"{base}/benevole"
    if as_volunteer or (purpose == "request_assigned"):
        return f"{base}/benevole/demandes/{request.id}", f"{base}/benevole"
    return f"{base}/mes-demandes/{request.id}", f"{base}/mes-demandes"


def _next_appointment(session: Session, request_id: uuid.UUID, now: datetime.datetime) -> Appointment | None:
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


def email_body(person: Person, news: News, context: Context) -> str:
    lines = [_("Hello %(name)s,") % {"name": first_name(person.display_name)}, "", sentence(news.title)]
    if news.detail:
        lines.append(news.detail)
    facts = []
    if news.module:
        facts.append(_("Request: %(module)s") % {"module": news.module})
    if news.when:
        facts.append(_("When: %(when)s") % {"when": format_when(news.when)})
    if news.other:
        facts.append(_("With: %(name)s") % {"name": news.other})
    if facts:
        lines.extend(["", *facts])
    if news.link:
        see = _("See the events: %(link)s") if news.about_event else _("See the request: %(link)s")
        lines.extend(["", see % {"link": news.link}])
    if context.tenant_name:
        lines.extend(["", "— " + context.tenant_name])
    return "\n".join(lines)


def sms_text(person: Person, news: News) -> str:
    parts = [_("Hello %(name)s.") % {"name": first_name(person.display_name)}, sentence(news.title)]
    if news.when:
        parts.append(format_when(news.when, short=True) + ".")
    return fit_sms(" ".join(parts), news.short_link)


def voice_text(person: Person, news: News, context: Context) -> str:
    parts = [
        _("Hello %(name)s.") % {"name": first_name(person.display_name)},
        _("This is a message from the Bip Pop service of %(service)s.") % {"service": context.tenant_name},
        sentence(news.title),
        news.detail,
    ]
    if news.when:
        parts.append(_("When: %(when)s") % {"when": format_when(news.when)} + ".")
    if news.other:
        parts.append(_("With: %(name)s") % {"name": news.other} + ".")
    if context.contact_phone:
        parts.append(_("For any question, call %(phone)s.") % {"phone": context.contact_phone})
    parts.append(_("Goodbye."))
    return " ".join(parts)


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
    person = session.get(Person, person_id)
    if person is None or person.disabled_at is not None:
        return []
    if dedupe_key is not None and _already_planned(session, dedupe_key):
        return []
    context = _context(session, tenant_name, settings)
    now = now or datetime.datetime.now(datetime.UTC)
    request = session.get(HelpRequest, request_id) if request_id else None
    appointment = session.get(Appointment, appointment_id) if appointment_id else None
    if appointment is None and request is not None and purpose in APPOINTMENT_PURPOSES:
        appointment = _next_appointment(session, request.id, now)
    if request is None and appointment is not None:
        request = session.get(HelpRequest, appointment.request_id)
    channel, recipient = choose_channel(session, context.settings, person)
    if channel == "coordinator" or recipient is None:
        call_task(
            session, person.id, purpose, request_id=request.id if request else None, dedupe_key=dedupe_key
        )
        return []
    other = None
    if request is not None and purpose in WITH_OTHER:
        volunteer_id = appointment.volunteer_id if appointment else request.volunteer_id
        other_id = request.beneficiary_id if person.id == volunteer_id else volunteer_id
        other_person = session.get(Person, other_id) if other_id and other_id != person.id else None
        other = first_name(other_person.display_name) if other_person else None
    page, short_link = _links(context, purpose, person, request, appointment)
    with speaking(person.locale):
        manifest = find_module(request.module) if request is not None else None
        news = News(
            title=titles().get(purpose) or default_title(),
            detail=details().get(purpose, ""),
            module=str(manifest.name) if manifest else None,
            when=appointment.starts_at
            if appointment is not None and purpose in APPOINTMENT_PURPOSES
            else None,
            other=other,
            link=link or page,
            short_link=short_link,
            about_event=purpose.startswith("event_"),
        )
        if channel == "email":
            subject = f"{news.title} — {context.tenant_name}" if context.tenant_name else news.title
            body = email_body(person, news, context)
        elif channel == "sms":
            subject, body = news.title, sms_text(person, news)
        else:
            subject, body = news.title, voice_text(person, news, context)
    written = write_message(
        session,
        channel=channel,
        purpose=purpose,
        recipient=recipient,
        subject=subject,
        body=body,
        person_id=person.id,
        dedupe_key=dedupe_key,
    )
    return [written] if written is not None else []


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
) -> list[uuid.UUID]:
    def run(sync: Session) -> list[uuid.UUID]:
        return notify_sync(
            sync,
            person_id=person_id,
            purpose=purpose,
            request_id=request_id,
            appointment_id=appointment_id,
            dedupe_key=dedupe_key,
            tenant_name=tenant_name,
            link=link,
        )

    return await session.run_sync(run)


async def notify_all(
    session: AsyncSession,
    pairs: Iterable[tuple[str, uuid.UUID]],
    *,
    request_id: uuid.UUID | None = None,
    tenant_name: str = "",
) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for purpose, person_id in pairs:
        ids.extend(
            await notify(
                session, person_id=person_id, purpose=purpose, request_id=request_id, tenant_name=tenant_name
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
    if not requests or volunteer.disabled_at is not None or _already_planned(session, dedupe_key):
        return []
    context = _context(session, "", settings)
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
            body = "\n".join(lines)
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
