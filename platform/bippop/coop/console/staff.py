"""Console pages: the co-op's team (``/equipe``, administrators only) and the one-time enrolment link
(``/equipe/inscription/<token>``, reachable signed out).

An administrator invites a member (name, e-mail, role): the account has no password until its
owner opens the link they receive by e-mail (never shown on screen: the administrator could enrol
in their place), chooses a password and goes on to set up the second factor. Roles change and
accounts are disabled here too; both end the member's sessions so that the change applies at once.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import passwords
from bippop.accounts.auth import COOP_SCOPE, FLAG_MFA_ENROLLMENT, session_store, start_session
from bippop.accounts.permissions import requires
from bippop.accounts.rate_limits import RateLimiter
from bippop.accounts.staff_models import STAFF_ROLES, Staff
from bippop.coop.console.common import COOP_ONLY, current_staff, signed_out
from bippop.coop.services import staff as service
from bippop.outbox.platform_mail import announce_platform
from bippop.web.addresses import client_address
from bippop.web.forms import first_text, form_problems
from bippop.web.i18n import role_label
from bippop.web.pages import render

log = structlog.get_logger("bippop.coop")
FormData = URLEncodedBody[dict[str, Any]]

TEAM_PATH = "/equipe"
MFA_SETUP_PATH = "/equipe/double-authentification"  # coop.controllers.ENROLLMENT_PATH (which imports us)
DONE = ("invited", "role", "disabled", "resent")
MAX_LISTED = 500


def _role_options() -> list[tuple[str, str]]:
    return [(role, role_label(role)) for role in reversed(STAFF_ROLES)]  # administrator first


async def _member(db_session: AsyncSession, staff_id: uuid.UUID) -> Staff:
    member = await db_session.get(Staff, staff_id)
    if member is None:
        raise NotFoundException()
    return member


async def _discard(db_session: AsyncSession, response: Response[str]) -> Response[str]:
    """A refusal: the page is rendered (from loaded objects), then whatever the attempt wrote is undone."""
    await db_session.rollback()
    return response


async def _after(request: Request, db_session: AsyncSession, outcome: service.StaffOutcome) -> None:
    """Commit, then sign the member out everywhere and announce the mail, as the outcome asks."""
    await db_session.commit()
    if outcome.end_sessions and outcome.member is not None:
        ended = await session_store(request).end_all_for(COOP_SCOPE, outcome.member.id)
        log.info("staff_sessions_ended", staff_id=str(outcome.member.id), sessions=ended)
    await announce_platform(request.app.state.redis, outcome.message_ids)


class StaffController(Controller):
    """The team: list, invitation, a member's page (role, new link, disabling)."""

    path = TEAM_PATH
    guards = [requires("coop.staff")]

    @get("/", opt=COOP_ONLY, name="coop-staff")
    async def team(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        members = list(
            await db_session.scalars(
                select(Staff).order_by(func.lower(Staff.display_name), Staff.email).limit(MAX_LISTED)
            )
        )
        done = request.query_params.get("fait")
        context = {"members": members, "me": staff.id, "done": done if done in DONE else None}
        return render(request, "coop/staff/list.html", context)

    @get("/inviter", opt=COOP_ONLY)
    async def invite_form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return _invite_page(request, {"role": "coop_operator"}, {})

    @post("/inviter", opt=COOP_ONLY)
    async def invite(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        values = {name: first_text(data, name)[:300] for name in ("name", "email", "role")}
        errors = form_problems(data)
        outcome = service.StaffOutcome(errors)
        if not errors:
            settings = request.app.state.settings
            outcome = await service.invite(
                db_session,
                settings,
                by=staff,
                name=values["name"],
                email=values["email"],
                role=values["role"],
            )
        if not outcome.ok:
            return await _discard(db_session, _invite_page(request, values, outcome.errors, status=400))
        await _after(request, db_session, outcome)
        assert outcome.member is not None
        log.info("staff_invited", staff_id=str(staff.id), member_id=str(outcome.member.id))
        return Redirect(f"{TEAM_PATH}?fait=invited", status_code=303)

    @get("/{staff_id:uuid}", opt=COOP_ONLY)
    async def member_page(
        self, request: Request, db_session: NamedDependency[AsyncSession], staff_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        member = await _member(db_session, staff_id)
        return _member_page(request, staff, member, {"role": _main_role(member)}, {})

    @post("/{staff_id:uuid}/role", opt=COOP_ONLY)
    async def change_role(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        staff_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        member = await _member(db_session, staff_id)
        role = first_text(data, "role")[:40]
        outcome = await service.change_role(db_session, by=staff, member=member, role=role)
        if not outcome.ok:
            return await _discard(
                db_session, _member_page(request, staff, member, {"role": role}, outcome.errors, status=400)
            )
        await _after(request, db_session, outcome)
        if member.id == staff.id and outcome.end_sessions:
            return await signed_out(request)  # their own session carried the old role
        return Redirect(f"{TEAM_PATH}/{member.id}?fait=role", status_code=303)

    @post("/{staff_id:uuid}/lien", opt=COOP_ONLY)
    async def resend(
        self, request: Request, db_session: NamedDependency[AsyncSession], staff_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        member = await _member(db_session, staff_id)
        settings = request.app.state.settings
        outcome = await service.resend_enrolment(db_session, settings, by=staff, member=member)
        if not outcome.ok:
            values = {"role": _main_role(member)}
            return await _discard(
                db_session, _member_page(request, staff, member, values, outcome.errors, status=400)
            )
        await _after(request, db_session, outcome)
        return Redirect(f"{TEAM_PATH}/{member.id}?fait=resent", status_code=303)

    @get("/{staff_id:uuid}/desactiver", opt=COOP_ONLY)
    async def disable_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], staff_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        member = await _member(db_session, staff_id)
        return _disable_page(request, staff, member, {})

    @post("/{staff_id:uuid}/desactiver", opt=COOP_ONLY)
    async def disable(
        self, request: Request, db_session: NamedDependency[AsyncSession], staff_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        member = await _member(db_session, staff_id)
        outcome = await service.disable(db_session, by=staff, member=member)
        if not outcome.ok:
            return await _discard(
                db_session, _disable_page(request, staff, member, outcome.errors, status=400)
            )
        await _after(request, db_session, outcome)
        log.info("staff_disabled", staff_id=str(staff.id), member_id=str(member.id))
        return Redirect(f"{TEAM_PATH}?fait=disabled", status_code=303)


def _main_role(member: Staff) -> str:
    return "coop_admin" if "coop_admin" in member.roles else "coop_operator"


def _invite_page(
    request: Request, values: dict[str, str], errors: dict[str, str], *, status: int = 200
) -> Response[str]:
    context = {"values": values, "errors": errors, "role_options": _role_options()}
    return render(request, "coop/staff/invite.html", context, status_code=status)


def _member_page(
    request: Request,
    staff: Staff,
    member: Staff,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response[str]:
    done = request.query_params.get("fait")
    context = {
        "member": member,
        "me": staff.id,
        "values": values,
        "errors": errors,
        "role_options": _role_options(),
        "done": done if done in DONE else None,
    }
    return render(request, "coop/staff/member.html", context, status_code=status)


def _disable_page(
    request: Request, staff: Staff, member: Staff, errors: dict[str, str], *, status: int = 200
) -> Response[str]:
    context = {"member": member, "me": staff.id, "errors": errors}
    return render(request, "coop/staff/disable.html", context, status_code=status)


# The enrolment link ---------------------------------------------------------------------------------


async def _refused(request: Request) -> str | None:
    """Count one use of an enrolment page against this address; the refusal's message if too many."""
    limiter: RateLimiter = request.app.state.rate_limiter
    address = client_address(request)
    refusal = await anyio.to_thread.run_sync(
        lambda: limiter.hit("invitation", tenant_id=COOP_SCOPE, account=None, address=address)
    )
    return refusal.message if refusal else None


def _link_page(
    request: Request,
    token: str,
    member: Staff | None,
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response[str]:
    context = {"token": token, "member": member, "errors": errors}
    return render(request, "coop/staff/enrol.html", context, status_code=status)


class EnrolmentController(Controller):
    """The page of a one-time link: choose a password, then set up the second factor."""

    path = service.ENROLMENT_PREFIX.rstrip("/")

    # Reachable signed out: the link is the credential (spent once, rate-limited per address).
    @get("/{token:str}", opt={**COOP_ONLY, "public": True}, name="coop-staff-enrol")
    async def enrol_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], token: FromPath[str]
    ) -> Response[Any]:
        if refused := await _refused(request):
            return _link_page(request, "", None, {"form": refused}, status=429)
        member = await service.enrolment_member(db_session, token)
        if member is None:
            return _link_page(request, "", None, {}, status=410)
        return _link_page(request, token, member, {})

    @post("/{token:str}", opt={**COOP_ONLY, "public": True})
    async def enrol(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        token: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        if refused := await _refused(request):
            return _link_page(request, "", None, {"form": refused}, status=429)
        member = await service.enrolment_member(db_session, token)
        if member is None:
            return _link_page(request, "", None, {}, status=410)
        password = first_text(data, "password")
        related = [member.display_name, member.email, "coop", "cooperative", "coopérative"]
        problems = passwords.password_problems(password, related)
        if problems:
            return _link_page(request, token, member, {"password": problems[0].message}, status=400)
        password_hash = await passwords.hash_password_off_loop(password)
        enrolled = await service.use_enrolment(db_session, token, password_hash)
        if enrolled is None:  # used meanwhile (another tab, a double click)
            return await _discard(db_session, _link_page(request, "", None, {}, status=410))
        staff_id, roles = enrolled.id, tuple(r for r in enrolled.roles if r in STAFF_ROLES)
        await db_session.commit()
        await session_store(request).end_all_for(COOP_SCOPE, staff_id)  # whatever was open before
        log.info("staff_enrolled", staff_id=str(staff_id))
        response: Response[Any] = Redirect(MFA_SETUP_PATH, status_code=303)
        await start_session(request, response, staff_id, roles, flags=(FLAG_MFA_ENROLLMENT,))
        return response


CONTROLLERS: list[Any] = [EnrolmentController, StaffController]
