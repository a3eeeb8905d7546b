"""The events module's export: who registered for the events to come, for the organisers' lists on paper
(the coordination « Exports » page downloads it as CSV and audits each download)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.models import Person
from bippop.aid.portal.common import PARIS
from bippop.web.i18n import current_locale
from bippop_modules.events.models import Event, EventRegistration

STATUS_LABELS = {"registered": ("inscrit·e", "registered"), "waiting": ("en attente", "waiting")}


async def registrations_rows(session: AsyncSession) -> list[Sequence[Any]]:
    english = current_locale.get() == "en"
    rows = await session.execute(
        select(Event.title, Event.starts_at, Person.display_name, EventRegistration.status)
        .join(EventRegistration, EventRegistration.event_id == Event.id)
        .join(Person, Person.id == EventRegistration.person_id)
        .where(
            Event.cancelled_at.is_(None),
            Event.ends_at >= clock.now(),
            EventRegistration.status.in_(tuple(STATUS_LABELS)),
        )
        .order_by(Event.starts_at, Event.id, EventRegistration.status, EventRegistration.created_at)
    )
    return [
        (
            title,
            starts_at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M"),
            name,
            STATUS_LABELS[status][1 if english else 0],
        )
        for title, starts_at, name, status in rows
    ]
