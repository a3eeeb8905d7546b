"""Staff pages on invitations: inviting someone with the roles one may give, and the pending list."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import services as accounts
from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES, accounts_request
from bippop.accounts.models import ROLES, AccountToken, Person
from bippop.accounts.permissions import invitable_roles, requires
from bippop.accounts.services.staff import invite
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.drafts import take_draft
from bippop.web.forms import FormData, field_values, form_fields
from bippop.web.i18n import role_label
from bippop.web.listing import page_number, paginate
from bippop.web.local_time import local_time
from bippop.web.pages import render_page


class InvitationsController(Controller):
    path = "/gestion/invitations"
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", guards=[requires("people.invite")], name="admin-invitations")
    async def invitations(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        # What was typed when the session ran out comes back once the person has signed in again.
        draft = await take_draft(request)
        if isinstance(draft.get("roles"), str):
            draft["roles"] = [draft["roles"]]
        offered = request.query_params.get("role")  # « Invite a partner » from the first steps
        if not draft and offered in invitable_roles(identity.roles):
            draft = {"roles": [offered]}
        sent = request.query_params.get("sent") == "1"
        return await _invitations_page(request, db_session, identity, values=draft, errors={}, sent=sent)

    @post("/", guards=[requires("people.invite")])
    async def invite(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        form = form_fields(data)
        email, roles = str(form.get("email", "")), field_values(data, "roles")
        outcome = await invite(db_session, accounts_request(request), identity, email, roles, form)
        if not outcome.done:
            values = {"email": email, "roles": roles}
            return await _invitations_page(
                request, db_session, identity, values=values, errors=outcome.errors, status=outcome.status
            )
        await commit_and_announce(request, db_session, outcome.message_ids)
        return Redirect("/gestion/invitations?sent=1", status_code=303)


async def _invitations_page(
    request: Request,
    db_session: AsyncSession,
    identity: Identity,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    sent: bool = False,
    status: int = 200,
) -> Response[str]:
    query = (
        select(AccountToken, Person.display_name)
        .outerjoin(Person, Person.id == AccountToken.created_by)
        .where(
            AccountToken.purpose == "invitation",
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > accounts.now_utc(),
        )
        .order_by(AccountToken.created_at.desc(), AccountToken.id)
    )
    rows, pagination = await paginate(db_session, query, page_number(request), {})
    offered = invitable_roles(identity.roles)
    context = {
        "values": {"email": "", "roles": [], **values},
        "errors": errors,
        "sent": sent,
        "role_options": [(role, role_label(role)) for role in ROLES if role in offered],
        "pending": rows,
        "pagination": pagination,
        "local": local_time,
    }
    page = staff_context(identity, context)
    return await render_page(request, db_session, "admin/invitations.html", page, status=status)
