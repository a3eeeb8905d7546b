"""``/coordination/taches``: what coordinators must do (a person to phone, a warning sign in a report, a
vetting lost, a concern, a request nobody answered), each marked done once."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.accounts.services.people import display_names, with_role
from bippop.aid.coordination.common import (
    REQUESTS,
    coordination_page,
    identity_of,
    visible_modules,
)
from bippop.aid.coordination.labels import task_labels, warning_labels
from bippop.aid.models import CoordinatorTask, HelpRequest
from bippop.aid.services.tasks import NotFound, mark_task_done
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.i18n import _
from bippop.web.listing import page_number, paginate


def _task_note(task: CoordinatorTask) -> str:
    note = task.note or ""
    if task.kind == "warning_sign":
        signs = warning_labels()
        if note == "worrying":
            return _("The volunteer found the person worrying.")
        return ", ".join(signs.get(s, s) for s in note.split(",") if s)
    if task.kind == "call_person" and note == "no_show":
        return _("Two visits in a row found nobody at home.")
    if task.kind == "concern":
        return note
    return ""


@dataclasses.dataclass(frozen=True)
class TaskLine:
    task: CoordinatorTask
    title: str
    what_to_do: str
    note: str
    person: str | None
    person_link: str | None
    request_link: str | None


class TasksController(Controller):
    path = "/coordination/taches"
    dependencies = PAGE_DEPENDENCIES

    @get("/", guards=[requires("requests.triage")], name="coordination-tasks")
    async def tasks(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        query = (
            select(CoordinatorTask)
            .where(CoordinatorTask.status == "open")
            .order_by(CoordinatorTask.created_at, CoordinatorTask.id)
        )
        rows, pagination = await paginate(db_session, query, page_number(request), {})
        tasks = [row[0] for row in rows]
        names = await display_names(db_session, [t.person_id for t in tasks])
        volunteers = set(
            await db_session.scalars(
                select(Person.id).where(
                    Person.id.in_([t.person_id for t in tasks if t.person_id]), with_role("volunteer")
                )
            )
        )
        visible = await visible_modules(request)
        shown_requests = set(
            await db_session.scalars(
                select(HelpRequest.id).where(
                    HelpRequest.id.in_([t.request_id for t in tasks if t.request_id]),
                    HelpRequest.module.in_(sorted(visible)),
                )
            )
        )
        labels = task_labels()
        lines = []
        for task in tasks:
            title, what_to_do = labels.get(task.kind, (task.kind, ""))
            person_link = None
            if task.person_id is not None:
                person_link = (
                    f"/coordination/benevoles/{task.person_id}"
                    if task.person_id in volunteers
                    else f"/gestion/personnes/{task.person_id}"
                )
            lines.append(
                TaskLine(
                    task=task,
                    title=title,
                    what_to_do=what_to_do,
                    note=_task_note(task),
                    person=names.get(task.person_id) if task.person_id else None,
                    person_link=person_link,
                    request_link=f"{REQUESTS}/{task.request_id}"
                    if task.request_id in shown_requests
                    else None,
                )
            )
        context = {"lines": lines, "pagination": pagination, "done": request.query_params.get("done") == "1"}
        return await coordination_page(request, db_session, "coordination/tasks.html", context)

    @post("/{task_id:uuid}/fait", guards=[requires("requests.triage")], name="coordination-task-done")
    async def done(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        task_id: FromPath[uuid.UUID],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        try:
            await mark_task_done(db_session, task_id, actor_id=identity_of(request).person_id)
        except NotFound:
            raise NotFoundException() from None
        await db_session.commit()
        return Redirect("/coordination/taches?done=1", status_code=303)
