"""The state machine itself: the moves the table allows, ``transition()`` that records each one, what a
service hands back (``Outcome``) and the coordinators' tasks several moves raise."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import audit
from bippop.aid.models import Appointment, CoordinatorTask, HelpRequest, RequestEvent
from bippop.modules.contract import ModuleManifest
from bippop.modules.registry import module as find_module
from bippop.web.i18n import _

ACTIVE = ("open", "offered", "matched", "scheduled", "paused")
WITH_VOLUNTEER = ("matched", "scheduled", "paused")  # active, and a volunteer is on it
# (from, to) → the actions that may make that move.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("open", "offered"): frozenset({"offer"}),
    ("offered", "offered"): frozenset({"offer"}),
    ("open", "matched"): frozenset({"pop", "assign"}),
    ("offered", "matched"): frozenset({"pop", "assign"}),
    ("matched", "scheduled"): frozenset({"schedule"}),
    ("scheduled", "scheduled"): frozenset({"schedule"}),
    ("scheduled", "done"): frozenset({"complete"}),
    ("done", "reported"): frozenset({"report"}),
    ("reported", "closed"): frozenset({"feedback", "close"}),
    ("done", "closed"): frozenset({"feedback", "close"}),
    ("scheduled", "paused"): frozenset({"pause"}),
    ("paused", "scheduled"): frozenset({"resume"}),
    **{
        (state, "open"): frozenset({"withdraw", "reassign", "vetting_lost"})
        for state in ("matched", "scheduled", "paused")
    },
    **{(state, "cancelled"): frozenset({"cancel"}) for state in ACTIVE},
}
NO_SHOW_LIMIT = 2
SERIES_HORIZON_DAYS = 28  # how far ahead a series' appointments exist; the daily job keeps it so
PAUSED = "paused"  # cancel reason of the appointments a pause took away (a resume brings them back)


class LifecycleError(ValueError):
    """A move that cannot be made; ``message`` is for people, ``field`` says where to show it."""

    def __init__(self, message: str, field: str = "form") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AlreadyTaken(LifecycleError):
    pass


@dataclasses.dataclass
class Outcome:
    """What happened, for the caller to announce after commit (ids only)."""

    request: HelpRequest
    notify: list[tuple[str, uuid.UUID]] = dataclasses.field(default_factory=list)  # (purpose, person id)
    appointments: list[Appointment] = dataclasses.field(default_factory=list)
    tasks: list[CoordinatorTask] = dataclasses.field(default_factory=list)


def now_utc() -> datetime.datetime:
    return clock.now()


def allowed(from_status: str, to_status: str, action: str) -> bool:
    return action in TRANSITIONS.get((from_status, to_status), frozenset())


async def transition(
    session: AsyncSession,
    request: HelpRequest,
    to_status: str,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    note: str | None = None,
    changed: bool = True,
) -> None:
    """Move ``request`` to ``to_status`` and record it; ``changed=False`` says the action changed nothing,
    and a stay in the same state that changed nothing leaves no trace in the history."""
    if not allowed(request.status, to_status, action):
        raise LifecycleError(
            _("This request can no longer be changed this way: reload the page to see where it stands.")
        )
    if request.status == to_status and not changed:
        return
    session.add(
        RequestEvent(
            id=uuid.uuid4(),
            request_id=request.id,
            actor_id=actor_id,
            from_status=request.status,
            to_status=to_status,
            note=note[:300] if note else None,
        )
    )
    audit.record(
        session,
        f"request_{action}",
        actor_id=actor_id,
        subject_type="help_request",
        subject_id=request.id,
        details={"from": request.status, "to": to_status, "module": request.module},
    )
    request.status = to_status


def manifest_of(request: HelpRequest) -> ModuleManifest:
    manifest = find_module(request.module)
    if manifest is None:
        raise LifecycleError(_("This service is no longer offered by your commune."))
    return manifest


async def add_task(
    session: AsyncSession,
    kind: str,
    *,
    person_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    note: str | None = None,
    dedupe_key: str | None = None,
) -> CoordinatorTask:
    if dedupe_key is not None:
        existing = await session.scalar(
            select(CoordinatorTask).where(CoordinatorTask.dedupe_key == dedupe_key)
        )
        if existing is not None:
            return existing
    task = CoordinatorTask(
        id=uuid.uuid4(),
        kind=kind,
        person_id=person_id,
        request_id=request_id,
        note=note,
        dedupe_key=dedupe_key,
    )
    session.add(task)
    await session.flush()
    return task
