"""Writing to the outbox, and delivering one message: e-mail by SMTP, text messages and voice calls
through the tenant's provider (notifications/providers.py).

Rows are written by ``bippop.outbox`` in the transaction of the change they announce; after commit
``deliver_message`` is enqueued with the row's id (never its content). A message whose job
was lost, or whose server or provider was down, stays ``pending`` and the sweeper sends it later.
The delivery locks the row, so two workers never send the same message; once sent, a message that
carried a secret link keeps no body. A text or call that can never go out (number refused, no
provider in production, too many attempts) goes to the fallback aid registers
(``notifications/unreachable.py``): a task for the coordinators, phone the person.
"""

from __future__ import annotations

import datetime
import email.utils
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from bippop import clock
from bippop.config import Settings
from bippop.notifications import unreachable
from bippop.notifications.providers import DeliveryError as DeliveryError  # re-exported: jobs catch it here
from bippop.notifications.providers import provider_for
from bippop.outbox.models import OutboxMessage, PlatformOutboxMessage

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 20
# Purposes whose body holds a secret (a sign-in or reset link): emptied once delivered.
SECRET_PURPOSES = frozenset({"verify_email", "reset_password", "sign_in_link", "invitation"})


def send_smtp(
    settings: Settings, message: OutboxMessage | PlatformOutboxMessage, *, tenant_host: str
) -> None:
    """One message through BIPPOP_SMTP_URL (``smtp://user:pass@host:port``, ``smtps://`` for TLS,
    ``?starttls=1`` to upgrade). Without an SMTP URL (development) the message is only logged
    as sent: it can be read on the development outbox page. A platform message may carry a
    ``Reply-To`` (the visitor who wrote through the contact form); ``tenant_host`` names the sender's
    site in the ``Message-ID`` (the base domain for the platform's own mail)."""
    if not settings.smtp_url:
        return
    url = urlsplit(settings.smtp_url)
    try:
        mail = EmailMessage()
        mail["From"] = settings.mail_from
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        reply_to = getattr(message, "reply_to", None)
        if reply_to:
            mail["Reply-To"] = reply_to
        mail["Date"] = email.utils.formatdate(localtime=False)
        # Stable per message: a retried delivery carries the same id, which mail systems de-duplicate.
        mail["Message-ID"] = f"<{message.id}@{tenant_host}>"
        mail.set_content(message.body)
    except (ValueError, TypeError) as exc:  # a header the mail library refuses: no retry will mend it
        raise DeliveryError(f"unwritable message: {type(exc).__name__}", permanent=True) from exc
    port = url.port or (465 if url.scheme == "smtps" else 25)
    try:
        client: smtplib.SMTP
        if url.scheme == "smtps":
            client = smtplib.SMTP_SSL(url.hostname or "localhost", port, timeout=20)
        else:
            client = smtplib.SMTP(url.hostname or "localhost", port, timeout=20)
        with client:
            if "starttls=1" in (url.query or ""):
                client.starttls(context=ssl.create_default_context())
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            # The envelope names the one recipient: never every address a header might hold.
            client.send_message(mail, to_addrs=[message.recipient])
    except (OSError, smtplib.SMTPException) as exc:
        # The server's own words may quote the address: the log and the outbox keep the kind and the code only.
        code = getattr(exc, "smtp_code", None) or getattr(exc, "errno", None)
        raise DeliveryError(f"{type(exc).__name__}" + (f" {code}" if code else "")) from exc


def send_by_provider(session: Session, settings: Settings, message: OutboxMessage) -> str:
    """A text message or a voice call through the tenant's provider; returns the provider's id."""
    from bippop.accounts.models import Person

    provider = provider_for(session, settings, message.channel)
    if provider is None:
        raise DeliveryError(f"no {message.channel} provider configured for this tenant", permanent=True)
    person = session.get(Person, message.person_id) if message.person_id else None
    language = person.locale if person is not None and person.locale else "fr"
    reference = provider.send(message.recipient, message.body, str(message.id), language=language)
    log.info(
        "provider_accepted",
        message_id=str(message.id),
        channel=message.channel,
        provider=provider.name,
        reference=reference,
    )
    return reference


def call_instead(session: Session, message: OutboxMessage) -> None:
    """A text or call that will never go out: the person is reached another way instead, once (the
    fallback the domain above registered: a coordinator phones them)."""
    if message.person_id is None:
        return
    unreachable.reach_otherwise(
        session,
        unreachable.Unreachable(message.person_id, message.purpose, dedupe_key=f"undelivered:{message.id}"),
    )


def deliver(session: Session, settings: Settings, message_id: uuid.UUID, *, tenant_host: str) -> str:
    """Send one outbox message if it is still pending; returns its status afterwards. Raises
    ``DeliveryError`` when it should be tried again later (the message stays pending)."""
    message = session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update(skip_locked=True)
    )
    if message is None:
        return "absent"  # unknown here, or another worker is sending it right now
    if message.status != "pending":
        return message.status
    message.attempts += 1
    try:
        if message.channel == "email":
            send_smtp(settings, message, tenant_host=tenant_host)
        elif message.channel in ("sms", "voice"):
            send_by_provider(session, settings, message)
        else:
            raise DeliveryError(f"unknown channel {message.channel!r}", permanent=True)
    except DeliveryError as exc:
        message.last_error = str(exc)
        if exc.permanent or message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
            if message.channel in ("sms", "voice"):
                call_instead(session, message)
        session.flush()
        if exc.permanent:
            return "failed"  # trying again cannot help
        raise
    message.status = "sent"
    message.sent_at = clock.now()
    message.last_error = None
    if message.purpose in SECRET_PURPOSES and settings.smtp_url:
        message.body = ""
    return "sent"


def pending_ids(session: Session, *, older_than_seconds: int = 60, limit: int = 500) -> list[uuid.UUID]:
    cutoff = clock.now() - datetime.timedelta(seconds=older_than_seconds)
    return list(
        session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.created_at < cutoff)
            .order_by(OutboxMessage.created_at)
            .limit(limit)
        )
    )
