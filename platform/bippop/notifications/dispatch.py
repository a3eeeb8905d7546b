"""Telling a person some news, on the channel they prefer.

``notify_sync(session, person_id=…, purpose=…, settings=…, about=…, dedupe_key=…)`` writes what must be
sent in the caller's transaction and returns the ids of the outbox rows to announce after commit;
``notify`` and ``notify_all`` (a list of (purpose, person id)) do it from an asynchronous session.
``about`` tells what the news is about to that person (``aid/notices.py``: the help request, its
appointment, the other party, the links); without it the news is its purpose's title and detail.

The channel is the first of the person's ``channels`` they can be reached on:

- ``email`` — they have an address: an e-mail with the news and a link to the page;
- ``sms`` — they have a mobile number (and the tenant a provider): a text of one message (160
  characters of the GSM alphabet, no personal detail but a first name) with a short link;
- ``voice`` — they have a phone number (and the tenant a provider): a text read aloud on a call;
- ``coordinator`` — no internet, no mobile: the domain's fallback (``notifications/unreachable.py``).

When none of their choices is possible, an e-mail if they have an address, else the fallback: nobody
is left untold. With a ``dedupe_key``, a second call (a retried job) writes nothing, whatever the
channel chosen each time.

The settings come from the caller: a job passes its resources' settings; a page's session carries the
application's (``session.info["settings"]``, put there by ``bippop.deps``).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop.accounts.models import Person
from bippop.config import Settings
from bippop.notifications import unreachable, wording
from bippop.notifications.providers import channel_available, is_mobile, septets, to_e164, to_gsm7
from bippop.notifications.wording import (
    default_title,
    details,
    first_name,
    format_when,
    portal_url,
    sentence,
    speaking,
    titles,
)
from bippop.outbox.models import OutboxMessage
from bippop.outbox.writing import write_message
from bippop.tenants.context import TenantRef
from bippop.web.i18n import _

CHANNELS = ("email", "sms", "voice", "coordinator")
SMS_LIMIT = 160  # septets: one message


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


def context_for(session: Session, settings: Settings | None = None, tenant_name: str = "") -> Context:
    """The tenant of ``session`` and the caller's settings: given, or carried by the page's session."""
    tenant = session.info.get("tenant")
    settings = settings or session.info.get("settings")
    if settings is None:
        raise LookupError("notifying needs the caller's settings: pass settings= (a job's resources)")
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


def already_planned(session: Session, dedupe_key: str) -> bool:
    """A message, or the fallback, was already written under ``dedupe_key`` (a retried job)."""
    return session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    ) is not None or unreachable.planned(session, dedupe_key)


# One notification ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Subject:
    """What the news is about, as the domain that owns it tells it to one person."""

    about_id: uuid.UUID | None = None  # a help request: the fallback's task points to it
    module: object | None = None  # the kind of help; ``str()`` reads it in the recipient's language
    when: datetime.datetime | None = None
    other: str | None = None  # the other party's first name
    link: str | None = None  # the page of the news
    short_link: str | None = None  # the page for a text message


# (session, recipient, context) -> what the news is about, for that recipient.
Describe = Callable[[Session, Person, Context], Subject]


def plain_subject(context: Context, purpose: str) -> Subject:
    """News about nothing more than its purpose; a module's news links to the page its notice names."""
    base = context.base_url
    notice = wording.MODULE_PURPOSES.get(purpose)
    if base and notice is not None and notice.path:
        return Subject(link=f"{base}{notice.path}", short_link=f"{base}{notice.path}")
    return Subject()


def module_see(purpose: str) -> str | None:
    notice = wording.MODULE_PURPOSES.get(purpose)
    return str(notice.see) if notice is not None and notice.see is not None else None


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
    see: str | None = None  # how the link is introduced, when it is not a request's page


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
        see = news.see or _("See the request: %(link)s")
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


def compose(channel: str, person: Person, news: News, context: Context) -> tuple[str, str]:
    """(subject, body) of ``news`` on ``channel``, in the current language."""
    if channel == "email":
        subject = f"{news.title} — {context.tenant_name}" if context.tenant_name else news.title
        return subject, email_body(person, news, context)
    if channel == "sms":
        return news.title, sms_text(person, news)
    return news.title, voice_text(person, news, context)


def notify_sync(
    session: Session,
    *,
    person_id: uuid.UUID,
    purpose: str,
    dedupe_key: str | None = None,
    tenant_name: str = "",
    link: str | None = None,
    settings: Settings | None = None,
    about: Describe | None = None,
) -> list[uuid.UUID]:
    """``notify`` for a synchronous session (jobs); see the module docstring."""
    person = session.get(Person, person_id)
    if person is None or person.disabled_at is not None:
        return []
    if dedupe_key is not None and already_planned(session, dedupe_key):
        return []
    context = context_for(session, settings, tenant_name)
    subject = about(session, person, context) if about is not None else plain_subject(context, purpose)
    channel, recipient = choose_channel(session, context.settings, person)
    if channel == "coordinator" or recipient is None:
        unreachable.reach_otherwise(
            session, unreachable.Unreachable(person.id, purpose, subject.about_id, dedupe_key)
        )
        return []
    with speaking(person.locale):
        news = News(
            title=titles().get(purpose) or default_title(),
            detail=details().get(purpose, ""),
            module=str(subject.module) if subject.module is not None else None,
            when=subject.when,
            other=subject.other,
            link=link or subject.link,
            short_link=subject.short_link,
            see=module_see(purpose),
        )
        title, body = compose(channel, person, news, context)
    written = write_message(
        session,
        channel=channel,
        purpose=purpose,
        recipient=recipient,
        subject=title,
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
    dedupe_key: str | None = None,
    tenant_name: str = "",
    link: str | None = None,
    settings: Settings | None = None,
    about: Describe | None = None,
) -> list[uuid.UUID]:
    def run(sync: Session) -> list[uuid.UUID]:
        return notify_sync(
            sync,
            person_id=person_id,
            purpose=purpose,
            dedupe_key=dedupe_key,
            tenant_name=tenant_name,
            link=link,
            settings=settings,
            about=about,
        )

    return await session.run_sync(run)


async def notify_all(
    session: AsyncSession,
    pairs: Iterable[tuple[str, uuid.UUID]],
    *,
    tenant_name: str = "",
    settings: Settings | None = None,
) -> list[uuid.UUID]:
    """Each (purpose, person id) told news about nothing more than its purpose (an event's); news about
    a help request go through ``aid.notices.notify_all``."""
    ids: list[uuid.UUID] = []
    for purpose, person_id in pairs:
        ids.extend(
            await notify(
                session, person_id=person_id, purpose=purpose, tenant_name=tenant_name, settings=settings
            )
        )
    return ids
