"""Delivering the platform's own mail (``platform.outbox_messages``: a council's sign-up, the public
contact form), through the same mail server as a tenant's, with the same rules: the row is locked
while it is sent (two workers never send it twice), its attempts and last error are kept, it is
``failed`` after too many attempts, and a body holding a secret is emptied once delivered or failed
(a code nobody received is no use to keep, and a leak of the table must not hold it)."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from bippop import clock
from bippop.config import Settings
from bippop.notifications.providers import DeliveryError
from bippop.notifications.services import MAX_ATTEMPTS, send_smtp
from bippop.outbox.models import PlatformOutboxMessage
from bippop.outbox.platform_mail import SECRET_PLATFORM_PURPOSES


def deliver_platform(session: Session, settings: Settings, message_id: uuid.UUID) -> str:
    """Send one platform message if it is still pending; returns its status afterwards. Raises
    ``DeliveryError`` when it should be tried again later (the message stays pending)."""
    message = session.scalar(
        select(PlatformOutboxMessage)
        .where(PlatformOutboxMessage.id == message_id)
        .with_for_update(skip_locked=True)
    )
    if message is None:
        return "absent"  # unknown, or another worker is sending it right now
    if message.status != "pending":
        return message.status
    message.attempts += 1
    try:
        send_smtp(settings, message, tenant_host=settings.base_domain)
    except DeliveryError as exc:
        message.last_error = str(exc)
        if exc.permanent or message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
            forget_secret(message)
        session.flush()
        if exc.permanent:
            return "failed"
        raise
    message.status = "sent"
    message.sent_at = clock.now()
    message.last_error = None
    if settings.smtp_url:  # the development outbox page shows the body: kept when mail is not sent
        forget_secret(message)
    return "sent"


def forget_secret(message: PlatformOutboxMessage) -> None:
    """Empty the body of a message holding a secret (its subject never does)."""
    if message.purpose in SECRET_PLATFORM_PURPOSES:
        message.body = ""


def pending_platform_ids(
    session: Session, *, older_than_seconds: int = 60, limit: int = 500
) -> list[uuid.UUID]:
    """Platform messages still pending ``older_than_seconds`` after they were written, oldest first."""
    cutoff = clock.now() - datetime.timedelta(seconds=older_than_seconds)
    return list(
        session.scalars(
            select(PlatformOutboxMessage.id)
            .where(PlatformOutboxMessage.status == "pending", PlatformOutboxMessage.created_at < cutoff)
            .order_by(PlatformOutboxMessage.created_at)
            .limit(limit)
        )
    )
