"""Staff pages on people: the list (search, filter by role) and a person's record with their roles."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES, accounts_request
from bippop.accounts.models import ROLES, Mandate, Person
from bippop.accounts.permissions import allowed, requires
from bippop.accounts.services.audit_log import consent_labels
from bippop.accounts.services.people import with_role
from bippop.accounts.services.staff import change_roles, record_record_read
from bippop.web.forms import FormData, field_values, search_text
from bippop.web.i18n import role_label
from bippop.web.listing import escape_like, page_number, paginate
from bippop.web.pages import render_page


class PeopleController(Controller):
    path = "/gestion/personnes"
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("people.view")], name="admin-people")
    async def people(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        role = request.query_params.get("role", "")
        role = role if role in ROLES else ""
        search = search_text(request.query_params.get("q", ""), 100)
        query = select(Person)
        if role:
            query = query.where(with_role(role))
        if search:
            pattern = f"%{escape_like(search)}%"
            query = query.where(
                or_(Person.display_name.ilike(pattern, escape="\\"), Person.email.ilike(pattern, escape="\\"))
            )
        query = query.order_by(func.lower(Person.display_name), Person.id)
        rows, pagination = await paginate(
            db_session, query, page_number(request), {"q": search, "role": role}
        )
        context = {
            "people": [row[0] for row in rows],
            "pagination": pagination,
            "values": {"q": search, "role": role},
            "role_options": [(r, role_label(r)) for r in ROLES],
        }
        return await render_page(request, db_session, "admin/people.html", staff_context(identity, context))

    @get("/{person_id:uuid}", guards=[requires("people.view")], name="admin-person")
    async def person(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person_id: FromPath[uuid.UUID],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        person = await db_session.get(Person, person_id)
        if person is None:
            raise NotFoundException()
        record_record_read(db_session, identity, person)
        saved = request.query_params.get("saved") == "1"
        return await person_page(
            request, db_session, identity, person, chosen=list(person.roles), errors={}, saved=saved
        )

    @post("/{person_id:uuid}/roles", guards=[requires("people.manage_roles")], name="admin-person-roles")
    async def set_roles(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person_id: FromPath[uuid.UUID],
        data: FormData,
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        chosen = field_values(data, "roles")
        outcome = await change_roles(db_session, accounts_request(request), identity, person_id, chosen, data)
        if outcome.subject is None:
            raise NotFoundException()
        if outcome.errors:
            return await person_page(
                request,
                db_session,
                identity,
                outcome.subject,
                chosen=chosen,
                errors=outcome.errors,
                status=400,
            )
        if outcome.done and outcome.subject.id == identity.person_id:
            return Redirect("/connexion", status_code=303)
        return Redirect(f"/gestion/personnes/{outcome.subject.id}?saved=1", status_code=303)


async def person_page(
    request: Request,
    db_session: AsyncSession,
    identity: Identity,
    person: Person,
    *,
    chosen: list[str],
    errors: dict[str, str],
    saved: bool = False,
    status: int = 200,
) -> Response[str]:
    relative, beneficiary = aliased(Person), aliased(Person)
    mandates = (
        await db_session.execute(
            select(Mandate, relative.display_name, beneficiary.display_name)
            .join(relative, relative.id == Mandate.relative_id)
            .join(beneficiary, beneficiary.id == Mandate.beneficiary_id)
            .where(
                or_(Mandate.relative_id == person.id, Mandate.beneficiary_id == person.id),
                Mandate.revoked_at.is_(None),
            )
            .order_by(Mandate.created_at.desc())
        )
    ).all()
    context = {
        "person": person,
        "roles": ROLES,
        "values": {"roles": chosen},
        "errors": errors,
        "saved": saved,
        "may_manage_roles": allowed(identity.roles, "people.manage_roles"),
        "role_options": [(role, role_label(role)) for role in ROLES],
        "mandates": mandates,
        "consent_labels": consent_labels(),
    }
    return await render_page(
        request, db_session, "admin/person.html", staff_context(identity, context), status=status
    )
