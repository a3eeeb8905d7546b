"""Offering a request to the best-placed volunteers without waiting for a coordinator: at once when it is
made (it reaches them in their next digest), and again to the next best when nobody answered within
``BIPPOP_REOFFER_AFTER_HOURS`` (``aid.jobs``). When nobody is left, the coordinators get a task, once."""

from __future__ import annotations

import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.aid import lifecycle, matching
from bippop.aid.models import HelpRequest

AUTO_OFFER = 10


EXHAUSTED_PREFIX = "reoffer:"  # dedupe key of the task made when re-offering found nobody left


def exhausted_key(request: HelpRequest) -> str:
    return f"{EXHAUSTED_PREFIX}{request.id}"


async def offer_to_best(
    session: AsyncSession,
    request: HelpRequest,
    *,
    limit: int = AUTO_OFFER,
    now: datetime.datetime | None = None,
) -> int:
    """Offer ``request`` to the ``limit`` best-ranked volunteers; returns how many."""
    return await _offer(
        session,
        request,
        limit,
        now,
        not_offered=False,
        key=f"unmatched:{request.id}",
        note="no eligible volunteer",
    )


async def offer_to_next(
    session: AsyncSession,
    request: HelpRequest,
    *,
    limit: int = AUTO_OFFER,
    now: datetime.datetime | None = None,
) -> int:
    """Nobody popped: offer ``request`` to the ``limit`` next best volunteers, leaving out everyone it was
    already offered to; returns how many (0: the coordinators have a task)."""
    return await _offer(
        session, request, limit, now, not_offered=True, key=exhausted_key(request), note="nobody answered"
    )


async def _offer(
    session: AsyncSession,
    request: HelpRequest,
    limit: int,
    now: datetime.datetime | None,
    *,
    not_offered: bool,
    key: str,
    note: str,
) -> int:
    now = now or clock.now()
    ranked = await matching.rank(
        session, request, limit=limit, today=clock.paris_day(now), not_offered=not_offered
    )
    if not ranked:
        await lifecycle.add_task(
            session,
            "unmatched",
            person_id=request.beneficiary_id,
            request_id=request.id,
            note=note,
            dedupe_key=key,
        )
        return 0
    await lifecycle.offer(session, request, [r.volunteer_id for r in ranked], actor_id=None, now=now)
    return len(ranked)
