"""``/devenir-benevole``: a signed-in resident's « I want to help » — what volunteering involves and the
town hall's checks, then the volunteer role added to their own account (``become_volunteer``) and the
volunteer's space. A visitor signed out is sent to sign in (the home page offers them the sign-up)."""

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.auth import start_session
from bippop.accounts.deps import signed_in_identity, signed_in_person
from bippop.accounts.permissions import requires
from bippop.aid.services.volunteering import VOLUNTEER, become_volunteer
from bippop.web.forms import FormData, form_fields
from bippop.web.pages import render_page


class BecomeVolunteerController(Controller):
    """One's own account only: the form names nobody, the person is the one signed in."""

    path = "/devenir-benevole"
    guards = [requires("account.manage")]

    @get("/", name="become-volunteer")
    async def explain(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        if VOLUNTEER in signed_in_identity(request).roles:
            return Redirect("/benevole", status_code=303)
        return await render_page(request, db_session, "portal/become_volunteer.html", {"errors": {}})

    @post("/")
    async def join(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        outcome = await become_volunteer(db_session, me, form_fields(data))
        if not outcome.done:
            context = {"errors": outcome.errors}
            return await render_page(request, db_session, "portal/become_volunteer.html", context, status=400)
        await db_session.commit()
        identity = signed_in_identity(request)
        response: Response[Any] = Redirect("/benevole", status_code=303)
        if set(outcome.roles) != set(identity.roles):
            # The roles of a session are those of its start: this one goes on with the new role, as it
            # was (a second factor still to set up stays to set up).
            await start_session(request, response, me.id, outcome.roles, flags=tuple(identity.session.flags))
        return response
