"""Ranking volunteers for a request, with the reasons shown to the coordinator.

Interface used by the pages (kept stable): ``rank(session, request, limit=20, today=None)`` returns
``RankedVolunteer`` items, best first. This first version filters on eligibility (role, vetting,
skills) and orders by distance; the full scoring (availability, languages, continuity, fair load)
replaces it.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import uuid

from sqlalchemy import any_, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.aid.models import HelpRequest
from bippop.modules.registry import module as find_module


@dataclasses.dataclass(frozen=True)
class RankedVolunteer:
    volunteer_id: uuid.UUID
    display_name: str
    score: float
    distance_km: float | None
    reasons: tuple[str, ...]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


async def rank(
    session: AsyncSession, request: HelpRequest, *, limit: int = 20, today: datetime.date | None = None
) -> list[RankedVolunteer]:
    today = today or datetime.date.today()
    manifest = find_module(request.module)
    level = manifest.matching.vetting_level if manifest else 0
    skills = list(manifest.matching.skills) if manifest else []
    query = select(Person).where(literal("volunteer") == any_(Person.roles), Person.disabled_at.is_(None))
    if skills:
        query = query.where(Person.skills.contains(skills))
    ranked = []
    for person in await session.scalars(query):
        if person.vetting_on(today) < level:
            continue
        km = None
        if None not in (request.latitude, request.longitude, person.latitude, person.longitude):
            km = distance_km(request.latitude, request.longitude, person.latitude, person.longitude)  # type: ignore[arg-type]
        reasons = (f"{km:.1f} km",) if km is not None else ()
        ranked.append(RankedVolunteer(person.id, person.display_name, -(km or 0.0), km, reasons))
    ranked.sort(key=lambda r: r.score, reverse=True)
    return ranked[:limit]
