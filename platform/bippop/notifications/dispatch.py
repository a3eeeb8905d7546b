"""Telling people what happened to their requests, on the channel each prefers.

Interface used by the pages and jobs (kept stable): ``notify(session, person_id=…, purpose=…,
request_id=…, appointment_id=…, dedupe_key=…)`` writes what must be sent (outbox rows, or a
coordinator task to phone someone without internet) in the caller's transaction and returns the
ids of the outbox rows to announce after commit. This first version sends e-mail only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.notifications.models import OutboxMessage
from bippop.notifications.services import queue_email
from bippop.web.i18n import _, current_locale

SUBJECTS = {
    "request_created_for_you": "A request for help was made for you",
    "request_matched": "A volunteer will help you",
    "request_assigned": "A request for help is waiting for you",
    "appointment_scheduled": "An appointment has been set",
    "appointment_reminder": "Reminder: appointment tomorrow",
    "request_cancelled": "A request for help was cancelled",
    "request_reopened": "We are looking for another volunteer",
    "request_released": "You are no longer matched with a request",
    "series_paused": "Regular visits paused",
    "series_resumed": "Regular visits resumed",
    "feedback_wanted": "How did it go?",
}


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
    person = await session.get(Person, person_id)
    if person is None or not person.email:
        return []
    if dedupe_key is not None:
        found = await session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
        if found is not None:
            return []
    token = current_locale.set(person.locale or "fr")
    try:
        subject = _(SUBJECTS.get(purpose, "News about your request"))
        body = "\n".join(
            [
                _("Hello %(name)s,") % {"name": person.display_name},
                "",
                subject + ".",
                *([link] if link else []),
                "",
                "— " + tenant_name,
            ]
        )
    finally:
        current_locale.reset(token)
    message = queue_email(
        session,
        purpose=purpose,
        recipient=person.email,
        subject=f"{subject} — {tenant_name}",
        body=body,
        person_id=person.id,
    )
    message.dedupe_key = dedupe_key
    return [message.id]


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
