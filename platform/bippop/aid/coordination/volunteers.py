"""``/coordination/benevoles``: volunteers' vetting (level and end date), skills and languages; a vetting
lowered below what a request needs makes the coordinators a task."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.accounts.services.people import with_role
from bippop.aid.coordination.common import (
    coordination_page,
    field_text,
    identity_of,
    parse_day,
    small_int,
)
from bippop.aid.coordination.labels import language_labels, skill_labels, vetting_labels
from bippop.aid.services.vetting import LANGUAGES, VettingChange, change_vetting
from bippop.modules import registry
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.forms import FormData, field_values, form_problems
from bippop.web.i18n import _
from bippop.web.listing import escape_like, page_number, paginate


def offered_skills() -> list[tuple[str, str]]:
    """Every skill named by the installed modules' matching hints, with a label."""
    labels = skill_labels()
    slugs = sorted({s for m in registry.installed_modules().values() for s in m.matching.skills})
    return [(s, labels.get(s, s.replace("_", " ").capitalize())) for s in slugs]


async def _volunteer(db_session: AsyncSession, person_id: uuid.UUID, *, lock: bool = False) -> Person:
    person = await db_session.get(Person, person_id, with_for_update=True if lock else None)
    if person is None or "volunteer" not in person.roles:
        raise NotFoundException()
    return person


async def _volunteer_page(
    request: Request,
    db_session: AsyncSession,
    volunteer: Person,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    languages = language_labels()
    context = {
        "volunteer": volunteer,
        "values": values,
        "errors": errors,
        "notice": notice,
        "level_options": [(str(level), label) for level, label in vetting_labels().items()],
        "skill_options": offered_skills(),
        "language_options": [(code, languages[code]) for code in LANGUAGES],
        "vetting_labels": vetting_labels(),
        "today": clock.today(),
    }
    return await coordination_page(request, db_session, "coordination/volunteer.html", context, status=status)


def _read_vetting(
    data: FormData, today: datetime.date
) -> tuple[dict[str, Any], dict[str, str], VettingChange | None]:
    """The vetting form as typed, its errors, and the change once it has none."""
    level_text, until_text = field_text(data, "level", 2), field_text(data, "until", 20)
    values: dict[str, Any] = {
        "level": level_text,
        "until": until_text,
        "skills": field_values(data, "skills"),
        "languages": field_values(data, "languages"),
    }
    errors: dict[str, str] = {}
    level = small_int(level_text)
    if level is None or level not in vetting_labels():
        errors["level"] = _("Choose a vetting level.")
    until = None
    if until_text:
        until = parse_day(until_text)
        if until is None:
            errors["until"] = _("Enter a date like 14/03/2027.")
        elif until < today:
            errors["until"] = _("This date is already past: a vetting that has ended counts as none.")
    if any(s not in dict(offered_skills()) for s in values["skills"]):
        errors["skills"] = _("Choose among the options offered.")
    if any(code not in LANGUAGES for code in values["languages"]):
        errors["languages"] = _("Choose among the options offered.")
    errors.update(form_problems(data))
    if errors or level is None:
        return values, errors, None
    return values, errors, VettingChange(level, until, values["skills"], values["languages"])


class VolunteersController(Controller):
    path = "/coordination/benevoles"
    dependencies = PAGE_DEPENDENCIES

    @get("/", guards=[requires("people.vet")], name="coordination-volunteers")
    async def volunteers(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        search = field_text(request.query_params, "q", 100)
        query = select(Person).where(with_role("volunteer"))
        if search:
            query = query.where(Person.display_name.ilike(f"%{escape_like(search)}%", escape="\\"))
        query = query.order_by(func.lower(Person.display_name), Person.id)
        rows, pagination = await paginate(db_session, query, page_number(request), {"q": search})
        skills = dict(offered_skills())
        context = {
            "people": [row[0] for row in rows],
            "pagination": pagination,
            "values": {"q": search},
            "vetting_labels": vetting_labels(),
            "skill_labels": skills,
            "today": clock.today(),
        }
        return await coordination_page(request, db_session, "coordination/volunteers.html", context)

    @get("/{person_id:uuid}", guards=[requires("people.vet")], name="coordination-volunteer")
    async def volunteer(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person_id: FromPath[uuid.UUID],
        locale: NamedDependency[str],
    ) -> Response[str]:
        person = await _volunteer(db_session, person_id)
        values = {
            "level": str(person.vetting_level),
            "until": person.vetted_until.strftime("%d/%m/%Y") if person.vetted_until else "",
            "skills": list(person.skills),
            "languages": list(person.languages),
        }
        notice = None
        if request.query_params.get("saved") == "1":
            alerts = small_int(request.query_params.get("alerts", "0")) or 0
            notice = _("The vetting is saved.")
            if alerts:
                notice += " " + _(
                    "The volunteer no longer has the vetting some of their requests need: the coordinators have a task for each."
                )
        return await _volunteer_page(request, db_session, person, values=values, errors={}, notice=notice)

    @post("/{person_id:uuid}", guards=[requires("people.vet")])
    async def save(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person_id: FromPath[uuid.UUID],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        person = await _volunteer(db_session, person_id, lock=True)
        today = clock.today()
        values, errors, change = _read_vetting(data, today)
        if change is None:
            return await _volunteer_page(
                request, db_session, person, values=values, errors=errors, status=400
            )
        tasks = await change_vetting(
            db_session,
            person,
            change,
            offered_skills=[s for s, _label in offered_skills()],
            actor_id=identity_of(request).person_id,
            today=today,
        )
        await db_session.commit()
        return Redirect(f"/coordination/benevoles/{person.id}?saved=1&alerts={len(tasks)}", status_code=303)
