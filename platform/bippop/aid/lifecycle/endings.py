"""A request that ends or goes back to open: cancelled (with a reason), released by or from its
volunteer, closed by a coordinator; each takes its future appointments with it."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.aid.lifecycle.appointments import cancel_future
from bippop.aid.lifecycle.machine import LifecycleError, Outcome, now_utc, transition
from bippop.aid.models import HelpRequest
from bippop.web.i18n import _


async def cancel(
    session: AsyncSession,
    request: HelpRequest,
    *,
    actor_id: uuid.UUID,
    reason: str,
    now: datetime.datetime | None = None,
) -> Outcome:
    reason = reason.strip()
    if not reason:
        raise LifecycleError(
            _("Please say in a few words why, so that everyone understands."), field="reason"
        )
    now = now or now_utc()
    volunteer_id = request.volunteer_id
    await transition(session, request, "cancelled", "cancel", actor_id=actor_id, note=reason)
    request.cancel_reason, request.cancelled_by = reason[:300], actor_id
    cancelled = await cancel_future(session, request, reason, now)
    outcome = Outcome(request, appointments=cancelled)
    for person_id in (request.beneficiary_id, volunteer_id):
        if person_id is not None and person_id != actor_id:
            outcome.notify.append(("request_cancelled", person_id))
    return outcome


async def release(
    session: AsyncSession,
    request: HelpRequest,
    *,
    action: str,
    actor_id: uuid.UUID | None,
    reason: str,
    now: datetime.datetime | None = None,
) -> Outcome:
    """The volunteer steps back (``withdraw``), a coordinator takes them off (``reassign``), or they lost the
    vetting this module needs (``vetting_lost``): the request is open again, future visits cancelled."""
    now = now or now_utc()
    previous = request.volunteer_id
    await transition(session, request, "open", action, actor_id=actor_id, note=reason)
    request.volunteer_id = None
    cancelled = await cancel_future(session, request, reason, now)
    outcome = Outcome(request, appointments=cancelled, notify=[("request_reopened", request.beneficiary_id)])
    if previous is not None and previous != actor_id:
        outcome.notify.append(("request_released", previous))
    return outcome


async def close(
    session: AsyncSession,
    request: HelpRequest,
    *,
    coordinator_id: uuid.UUID,
    now: datetime.datetime | None = None,
) -> Outcome:
    await transition(session, request, "closed", "close", actor_id=coordinator_id)
    request.closed_at = now or now_utc()
    return Outcome(request, appointments=await cancel_future(session, request, None, request.closed_at))
