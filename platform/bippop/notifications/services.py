"""Writing to the outbox, and delivering one message by SMTP.

A message row is added in the same transaction as the change it announces; after commit the
caller enqueues ``deliver_message`` with the row's id (never its content). A message whose job
was lost, or whose SMTP server was down, stays ``pending`` and the sweeper sends it later. The
delivery locks the row, so two workers never send the same message; once sent, a message that
carried a secret link keeps no body.
"""

from __future__ import annotations

import datetime
import email.utils
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop.config import Settings
from bippop.notifications.models import OutboxMessage

MAX_ATTEMPTS = 20
# Purposes whose body holds a secret (a sign-in or reset link): emptied once delivered.
SECRET_PURPOSES = frozenset({"verify_email", "reset_password", "sign_in_link", "invitation"})


class DeliveryError(RuntimeError):
    """The mail server refused or could not be reached; the message stays pending."""


def queue_email(
    session: AsyncSession | Session,
    *,
    purpose: str,
    recipient: str,
    subject: str,
    body: str,
    person_id: uuid.UUID | None = None,
) -> OutboxMessage:
    message = OutboxMessage(
        id=uuid.uuid4(),
        channel="email",
        purpose=purpose,
        person_id=person_id,
        recipient=recipient,
        subject=subject[:200],
        body=body,
        status="pending",
        attempts=0,
    )
    session.add(message)
    return message


def send_smtp(settings: Settings, message: OutboxMessage, *, tenant_host: str) -> None:
    """One message through BIPPOP_SMTP_URL (``smtp://user:pass@host:port``, ``smtps://`` for TLS,
    ``?starttls=1`` to upgrade). Without an SMTP URL (development) the message is only logged
    as sent: it can be read on the development outbox page."""
    if not settings.smtp_url:
        return
    url = urlsplit(settings.smtp_url)
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.formatdate(localtime=False)
    # Stable per message: a retried delivery carries the same id, which mail systems de-duplicate.
    mail["Message-ID"] = f"<{message.id}@{tenant_host}>"
    mail.set_content(message.body)
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
            client.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc


def deliver(session: Session, settings: Settings, message_id: uuid.UUID, *, tenant_host: str) -> str:
    """Send one outbox message if it is still pending; returns its status afterwards."""
    message = session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update(skip_locked=True)
    )
    if message is None:
        return "absent"  # unknown here, or another worker is sending it right now
    if message.status != "pending":
        return message.status
    message.attempts += 1
    try:
        send_smtp(settings, message, tenant_host=tenant_host)
    except DeliveryError as exc:
        message.last_error = str(exc)
        if message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
        session.flush()
        raise
    message.status = "sent"
    message.sent_at = datetime.datetime.now(datetime.UTC)
    message.last_error = None
    if message.purpose in SECRET_PURPOSES and settings.smtp_url:
        message.body = ""
    return "sent"


def pending_ids(session: Session, *, older_than_seconds: int = 60, limit: int = 500) -> list[uuid.UUID]:
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=older_than_seconds)
    return list(
        session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.created_at < cutoff)
            .order_by(OutboxMessage.created_at)
            .limit(limit)
        )
    )
