"""What coordinators must do: a task for each concern reported, a task marked done, a concern handled
(which closes its task). Each change is audited here, not in the page that asks for it."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts import services as accounts
from bippop.aid import lifecycle
from bippop.aid.models import Concern, CoordinatorTask


class NotFound(Exception):
    """No such task or concern in this tenant."""


async def concern_reported(session: AsyncSession, concern: Concern) -> CoordinatorTask:
    """A concern was just reported (the caller adds it, then calls this in the same transaction): the
    coordinators get a task pointing at it. Calling it again for the same concern changes nothing."""
    await session.flush()
    body = " ".join(concern.body.split())
    return await lifecycle.add_task(
        session,
        "concern",
        person_id=concern.about_person_id,
        request_id=concern.request_id,
        note=body[:297] + "…" if len(body) > 300 else body,
        dedupe_key=f"concern:{concern.id}",
    )


async def mark_task_done(session: AsyncSession, task_id: uuid.UUID, *, actor_id: uuid.UUID) -> None:
    """Done once: marking a task already done changes nothing. Raises ``NotFound``."""
    task = await session.get(CoordinatorTask, task_id, with_for_update=True)
    if task is None:
        raise NotFound()
    if task.status != "open":
        return
    task.status, task.done_by, task.done_at = "done", actor_id, accounts.now_utc()
    audit.record(
        session,
        "task_done",
        actor_id=actor_id,
        subject_type="coordinator_task",
        subject_id=task.id,
        details={"kind": task.kind},
    )


async def handle_concern(session: AsyncSession, concern_id: uuid.UUID, *, actor_id: uuid.UUID) -> None:
    """The concern is handled, and the coordinators' task about it done. Raises ``NotFound``."""
    concern = await session.get(Concern, concern_id, with_for_update=True)
    if concern is None:
        raise NotFound()
    if concern.status != "open":
        return
    now = accounts.now_utc()
    concern.status, concern.handled_by, concern.handled_at = "handled", actor_id, now
    task = await session.scalar(
        select(CoordinatorTask).where(CoordinatorTask.dedupe_key == f"concern:{concern.id}")
    )
    if task is not None and task.status == "open":
        task.status, task.done_by, task.done_at = "done", actor_id, now
    audit.record(session, "concern_handled", actor_id=actor_id, subject_type="concern", subject_id=concern.id)
