"""A volunteer's vetting (level and end date), skills and languages, changed by a coordinator: audited
before and after; a vetting lowered below what a live request needs makes the coordinators a task."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts.models import Person
from bippop.aid import lifecycle
from bippop.aid.models import CoordinatorTask

# The languages a volunteer may say they speak, in the order the form lists them.
LANGUAGES = ("fr", "en", "ar", "es", "pt", "it", "de", "tr", "ro", "pl", "lsf")


@dataclasses.dataclass(frozen=True)
class VettingChange:
    """What the coordinator chose, already checked (skills among those offered, languages known)."""

    level: int
    until: datetime.date | None
    skills: Sequence[str]
    languages: Sequence[str]


def _day(value: datetime.date | None) -> str | None:
    return value.isoformat() if value else None


async def change_vetting(
    session: AsyncSession,
    person: Person,
    change: VettingChange,
    *,
    offered_skills: Sequence[str],
    actor_id: uuid.UUID,
    today: datetime.date,
) -> list[CoordinatorTask]:
    """Apply ``change``; returns the coordinators' tasks made by a vetting that dropped."""
    before_level, before_until, before_effective = (
        person.vetting_level,
        person.vetted_until,
        person.vetting_on(today),
    )
    # Skills and languages the form does not offer (a module since removed) are kept.
    kept_skills = [s for s in person.skills if s not in offered_skills]
    kept_languages = [code for code in person.languages if code not in LANGUAGES]
    person.vetting_level = change.level
    person.vetted_until = change.until if change.level > 0 else None
    person.skills = kept_skills + [s for s in offered_skills if s in change.skills]
    person.languages = [code for code in LANGUAGES if code in change.languages] + kept_languages
    audit.record(
        session,
        "vetting_changed",
        actor_id=actor_id,
        subject_type="person",
        subject_id=person.id,
        details={
            "before": {"level": before_level, "until": _day(before_until)},
            "after": {"level": person.vetting_level, "until": _day(person.vetted_until)},
            "skills": person.skills,
            "languages": person.languages,
        },
    )
    if person.vetting_on(today) < before_effective:
        return await lifecycle.vetting_changed(session, person, today=today)
    return []
