"""Relatives' mandates: the staff record and revoke them; a relative or a person helped sees their own."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.models import Mandate, Person
from bippop.accounts.permissions import requires
from bippop.accounts.services.audit_log import consent_labels
from bippop.accounts.services.people import with_role
from bippop.accounts.services.staff import record_mandate, revoke_mandate
from bippop.web.forms import FormData, form_fields
from bippop.web.listing import page_number, paginate
from bippop.web.local_time import local_time
from bippop.web.pages import render_page


class MandatesController(Controller):
    path = "/gestion/mandats"
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("mandates.manage")], name="admin-mandates")
    async def mandates(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        notice = {"recorded": "recorded", "revoked": "revoked"}.get(request.query_params.get("done", ""))
        return await _mandates_page(request, db_session, identity, values={}, errors={}, notice=notice)

    @post("/", guards=[requires("mandates.manage")])
    async def record(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        form = form_fields(data)
        outcome = await record_mandate(db_session, identity, form)
        if not outcome.done:
            values = {key: form.get(key, "") for key in ("relative_id", "beneficiary_id", "consent")}
            return await _mandates_page(
                request, db_session, identity, values=values, errors=outcome.errors, status=400
            )
        await db_session.commit()
        return Redirect("/gestion/mandats?done=recorded", status_code=303)

    @post("/{mandate_id:uuid}/revoquer", guards=[requires("mandates.manage")], name="admin-mandate-revoke")
    async def revoke(
        self,
        db_session: NamedDependency[AsyncSession],
        mandate_id: FromPath[uuid.UUID],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        outcome = await revoke_mandate(db_session, identity, mandate_id)
        if not outcome.done:
            raise NotFoundException()
        await db_session.commit()
        return Redirect("/gestion/mandats?done=revoked", status_code=303)


async def _person_options(db_session: AsyncSession, role: str) -> list[tuple[str, str]]:
    """(id, "Name (e-mail)") of the people holding ``role``, for a select."""
    rows = await db_session.execute(
        select(Person.id, Person.display_name, Person.email)
        .where(with_role(role), Person.disabled_at.is_(None))
        .order_by(func.lower(Person.display_name), Person.id)
    )
    return [
        (str(row.id), f"{row.display_name} ({row.email})" if row.email else row.display_name) for row in rows
    ]


async def _mandates_page(
    request: Request,
    db_session: AsyncSession,
    identity: Identity,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    consents = consent_labels()
    relative, beneficiary = aliased(Person), aliased(Person)
    query = (
        select(Mandate, relative.display_name, beneficiary.display_name)
        .join(relative, relative.id == Mandate.relative_id)
        .join(beneficiary, beneficiary.id == Mandate.beneficiary_id)
        .where(Mandate.revoked_at.is_(None))
        .order_by(Mandate.created_at.desc(), Mandate.id)
    )
    rows, pagination = await paginate(db_session, query, page_number(request), {})
    context = {
        "values": {"relative_id": "", "beneficiary_id": "", "consent": "", **values},
        "errors": errors,
        "notice": notice,
        "relative_options": await _person_options(db_session, "relative"),
        "beneficiary_options": await _person_options(db_session, "beneficiary"),
        "consent_labels": consents,
        "consent_options": list(consents.items()),
        "mandates": rows,
        "pagination": pagination,
        "local": local_time,
    }
    page = staff_context(identity, context)
    return await render_page(request, db_session, "admin/mandates.html", page, status=status)


class OwnMandatesController(Controller):
    """A relative sees whom they may act for; a person helped sees who may act for them."""

    path = "/compte/mandats"
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("mandates.view_own")], name="own-mandates")
    async def own(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        other = aliased(Person)
        for_others = (
            await db_session.execute(
                select(Mandate, other.display_name)
                .join(other, other.id == Mandate.beneficiary_id)
                .where(Mandate.relative_id == identity.person_id, Mandate.revoked_at.is_(None))
                .order_by(func.lower(other.display_name))
            )
        ).all()
        for_me = (
            await db_session.execute(
                select(Mandate, other.display_name)
                .join(other, other.id == Mandate.relative_id)
                .where(Mandate.beneficiary_id == identity.person_id, Mandate.revoked_at.is_(None))
                .order_by(func.lower(other.display_name))
            )
        ).all()
        context = {
            "for_others": for_others,
            "for_me": for_me,
            "is_relative": "relative" in identity.roles,
            "is_beneficiary": "beneficiary" in identity.roles,
            "consent_labels": consent_labels(),
            "local": local_time,
        }
        return await render_page(request, db_session, "admin/own_mandates.html", context)
