"""Writing to the outbox: a message row is added in the same transaction as the change it announces;
after commit the caller announces the row's id (``after_commit``), never its content."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop.outbox.models import OutboxMessage


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


def write_message(
    session: Session,
    *,
    channel: str,
    purpose: str,
    recipient: str,
    subject: str,
    body: str,
    person_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
) -> uuid.UUID | None:
    """Add one message of any channel; with a ``dedupe_key`` already used, write nothing and return None
    (a retried job, or two running at once: the unique key decides, in the database)."""
    found = session.execute(
        insert(OutboxMessage)
        .values(
            id=uuid.uuid4(),
            channel=channel,
            purpose=purpose,
            person_id=person_id,
            recipient=recipient[:254],
            subject=subject[:200],
            body=body,
            status="pending",
            attempts=0,
            dedupe_key=dedupe_key,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    ).scalar_one_or_none()
    return found
