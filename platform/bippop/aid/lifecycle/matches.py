"""A request and its volunteer: recording a bip, offering it, the race-free pop, a coordinator's
assignment, and what a volunteer's lower vetting means for the requests they are on."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import audit
from bippop.accounts.models import Mandate, Person
from bippop.aid.lifecycle.machine import (
    WITH_VOLUNTEER,
    AlreadyTaken,
    LifecycleError,
    Outcome,
    add_task,
    manifest_of,
    now_utc,
    transition,
)
from bippop.aid.models import CoordinatorTask, HelpRequest, RequestEvent, RequestOffer
from bippop.modules.contract import ModuleManifest
from bippop.modules.registry import module as find_module
from bippop.web.i18n import _


async def live_mandate(
    session: AsyncSession, relative_id: uuid.UUID, beneficiary_id: uuid.UUID
) -> Mandate | None:
    found: Mandate | None = await session.scalar(
        select(Mandate).where(
            Mandate.relative_id == relative_id,
            Mandate.beneficiary_id == beneficiary_id,
            Mandate.revoked_at.is_(None),
        )
    )
    return found


async def create_request(
    session: AsyncSession,
    *,
    manifest: ModuleManifest,
    beneficiary: Person,
    actor: Person,
    created_as: str,
    details: dict[str, Any],
    recurring: bool = False,
    duration_minutes: int | None = None,
    wanted_from: datetime.date | None = None,
    preferred_windows: Sequence[dict[str, int]] = (),
) -> Outcome:
    """Record a bip. ``details`` must already be the module's cleaned values."""
    # Over 60 lines: the checks a new request passes (mandate, module, recurrence) before one insert and its audit.
    mandate_id = None
    if created_as == "beneficiary" and actor.id != beneficiary.id:
        raise LifecycleError(_("You can only ask for yourself here."))
    if created_as == "relative":
        mandate = await live_mandate(session, actor.id, beneficiary.id)
        if mandate is None:
            raise LifecycleError(
                _(
                    "You are not recorded as acting for this person. Ask your commune's coordinator to record it, with their agreement."
                ),
                field="beneficiary",
            )
        mandate_id = mandate.id
    if recurring and not manifest.matching.recurring_allowed:
        recurring = False
    request = HelpRequest(
        id=uuid.uuid4(),
        module=manifest.slug,
        beneficiary_id=beneficiary.id,
        created_by=actor.id,
        created_as=created_as,
        mandate_id=mandate_id,
        status="open",
        details=details,
        recurring=recurring,
        duration_minutes=duration_minutes or manifest.matching.default_duration_minutes,
        wanted_from=wanted_from,
        preferred_windows=list(preferred_windows),
        latitude=beneficiary.latitude,
        longitude=beneficiary.longitude,
    )
    session.add(request)
    await session.flush()
    session.add(
        RequestEvent(
            id=uuid.uuid4(), request_id=request.id, actor_id=actor.id, from_status=None, to_status="open"
        )
    )
    audit.record(
        session,
        "request_created",
        actor_id=actor.id,
        subject_type="help_request",
        subject_id=request.id,
        details={"module": manifest.slug, "created_as": created_as, "beneficiary": str(beneficiary.id)},
    )
    outcome = Outcome(request)
    if actor.id != beneficiary.id:
        outcome.notify.append(("request_created_for_you", beneficiary.id))
    hook = manifest.hooks.get("on_request_created")
    if hook is not None:
        await hook(session, request)
    return outcome


async def offer(
    session: AsyncSession,
    request: HelpRequest,
    volunteer_ids: Sequence[uuid.UUID],
    *,
    actor_id: uuid.UUID | None,
    now: datetime.datetime | None = None,
) -> Outcome:
    """Tell these volunteers about the request (their next digest carries it)."""
    now = now or now_utc()
    known = set(
        await session.scalars(select(RequestOffer.volunteer_id).where(RequestOffer.request_id == request.id))
    )
    fresh = [v for v in dict.fromkeys(volunteer_ids) if v not in known]
    for volunteer_id in fresh:
        session.add(
            RequestOffer(id=uuid.uuid4(), request_id=request.id, volunteer_id=volunteer_id, offered_at=now)
        )
    await transition(session, request, "offered", "offer", actor_id=actor_id, note=f"{len(fresh)} volunteers")
    return Outcome(request)


def eligibility_problem(manifest: ModuleManifest, volunteer: Person, today: datetime.date) -> str | None:
    if "volunteer" not in volunteer.roles or not volunteer.can_sign_in:
        return _("Only volunteers can answer requests.")
    if volunteer.vetting_on(today) < manifest.matching.vetting_level:
        return _("This kind of help needs a volunteer checked by the commune. Ask the coordinator about it.")
    missing = set(manifest.matching.skills) - set(volunteer.skills)
    if missing:
        return _("This request needs skills you have not listed yet. You can add them on your profile.")
    return None


async def _claim(session: AsyncSession, request: HelpRequest, volunteer_id: uuid.UUID) -> bool:
    """The one conditional update that makes popping race-free."""
    result = await session.execute(
        update(HelpRequest)
        .where(
            HelpRequest.id == request.id,
            HelpRequest.status.in_(("open", "offered")),
            HelpRequest.volunteer_id.is_(None),
        )
        .values(volunteer_id=volunteer_id, updated_at=now_utc())
        .returning(HelpRequest.id)
    )
    return result.scalar_one_or_none() is not None


async def pop(
    session: AsyncSession, request: HelpRequest, volunteer: Person, *, today: datetime.date | None = None
) -> Outcome:
    """A volunteer answers: first come, first served."""
    manifest = manifest_of(request)
    problem = eligibility_problem(manifest, volunteer, today or clock.today())
    if problem:
        raise LifecycleError(problem)
    if not await _claim(session, request, volunteer.id):
        raise AlreadyTaken(
            _(
                "Another volunteer has just answered this request. Thank you all the same: other requests are waiting for you."
            )
        )
    await session.refresh(request)
    await transition(session, request, "matched", "pop", actor_id=volunteer.id)
    return Outcome(request, notify=[("request_matched", request.beneficiary_id)])


async def assign(
    session: AsyncSession,
    request: HelpRequest,
    volunteer: Person,
    *,
    coordinator_id: uuid.UUID,
    today: datetime.date | None = None,
) -> Outcome:
    manifest = manifest_of(request)
    problem = eligibility_problem(manifest, volunteer, today or clock.today())
    if problem:
        raise LifecycleError(problem, field="volunteer")
    if not await _claim(session, request, volunteer.id):
        raise AlreadyTaken(_("A volunteer has just been matched with this request. Reload the page."))
    await session.refresh(request)
    await transition(session, request, "matched", "assign", actor_id=coordinator_id)
    return Outcome(
        request, notify=[("request_assigned", volunteer.id), ("request_matched", request.beneficiary_id)]
    )


async def vetting_changed(
    session: AsyncSession,
    volunteer: Person,
    *,
    today: datetime.date | None = None,
    occasion: str | None = None,
) -> list[CoordinatorTask]:
    """A volunteer's vetting went down (or expired): each request they are matched on that needs more
    gets a task for the coordinators, who decide (the volunteer is not silently removed). One task per
    request and ``occasion`` (by default the day: a change made twice that day alerts once)."""
    today = today or clock.today()
    level = volunteer.vetting_on(today)
    tasks = []
    for request in await session.scalars(
        select(HelpRequest).where(
            HelpRequest.volunteer_id == volunteer.id,
            HelpRequest.status.in_(WITH_VOLUNTEER),
        )
    ):
        manifest = find_module(request.module)
        if manifest is not None and level < manifest.matching.vetting_level:
            tasks.append(
                await add_task(
                    session,
                    "vetting_lost",
                    person_id=volunteer.id,
                    request_id=request.id,
                    note=f"level {level} < {manifest.matching.vetting_level}",
                    dedupe_key=f"vetting:{request.id}:{volunteer.id}:{occasion or today.isoformat()}",
                )
            )
    return tasks
