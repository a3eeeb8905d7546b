"""Offering a new request to the best-placed volunteers at once, so that it reaches them in their next
digest without waiting for a coordinator; when nobody can take it, the coordinators get a task."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.aid import lifecycle, matching
from bippop.aid.models import HelpRequest

AUTO_OFFER = 10


async def offer_to_best(session: AsyncSession, request: HelpRequest, *, limit: int = AUTO_OFFER) -> int:
    """Offer ``request`` to the ``limit`` best-ranked volunteers; returns how many."""
    ranked = await matching.rank(session, request, limit=limit)
    if not ranked:
        await lifecycle.add_task(
            session,
            "unmatched",
            person_id=request.beneficiary_id,
            request_id=request.id,
            note="no eligible volunteer",
            dedupe_key=f"unmatched:{request.id}",
        )
        return 0
    await lifecycle.offer(session, request, [r.volunteer_id for r in ranked], actor_id=None)
    return len(ranked)
