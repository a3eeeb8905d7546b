"""Managing the co-op's staff from the console: inviting a member (an account without a password and a
one-time enrolment link sent by e-mail), changing roles, disabling, sending a new link, and using one.

Each function applies the rules, records its audit entry in the caller's transaction and returns an
outcome; the handler commits, then ends sessions or announces the mail. The link's token is known
only to the e-mail: the table keeps its SHA-256. Nobody may disable themselves, and the last
co-op administrator able to sign in stays one.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import secrets
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate

from bippop import clock
from bippop.accounts.services import looks_like_email, normalise_email
from bippop.accounts.staff_models import STAFF_ROLES, Staff
from bippop.config import Settings
from bippop.coop import audit
from bippop.coop.models import StaffEnrolment
from bippop.outbox.platform_mail import queue_platform_email
from bippop.tenants.urls import coop_url
from bippop.web import i18n
from bippop.web.i18n import _

ENROLMENT_LIFETIME = datetime.timedelta(hours=72)
ENROLMENT_PREFIX = "/equipe/inscription/"
ENROLMENT_PURPOSE = "staff_enrolment"  # in SECRET_PLATFORM_PURPOSES: the body is forgotten once sent
MAX_NAME = 120
MAX_EMAIL = 254
MAX_TOKEN = 100


@dataclasses.dataclass
class StaffOutcome:
    """What an action did: refused with ``errors`` (field → message), or done for ``member``, with the
    platform mail to announce after commit and whether the member's sessions must end."""

    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    member: Staff | None = None
    message_ids: list[uuid.UUID] = dataclasses.field(default_factory=list)
    end_sessions: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_problem(role: str) -> str | None:
    return None if role in STAFF_ROLES else _("Choose a role.")


# Inviting and sending links ------------------------------------------------------------------------


async def invite(
    session: AsyncSession, settings: Settings, *, by: Staff, name: str, email: str, role: str
) -> StaffOutcome:
    """A new member without a password, and the e-mail with their enrolment link."""
    name, email = name.strip(), normalise_email(email)
    errors: dict[str, str] = {}
    if not 1 <= len(name) <= MAX_NAME:
        errors["name"] = _("Enter their name (at most 120 characters).")
    if len(email) > MAX_EMAIL or not looks_like_email(email):
        errors["email"] = _("Enter an e-mail address like name@example.fr.")
    if problem := role_problem(role):
        errors["role"] = problem
    if errors:
        return StaffOutcome(errors)
    member = Staff(id=uuid.uuid4(), display_name=name, email=email, password_hash=None, roles=[role])
    try:
        async with session.begin_nested():
            session.add(member)
            await session.flush()
    except IntegrityError:
        return StaffOutcome({"email": _("A team member already has this e-mail address.")})
    audit.record(session, "staff.invite", staff_id=by.id, target=str(member.id), role=role)
    message_id = await _send_link(session, settings, member, by)
    return StaffOutcome(member=member, message_ids=[message_id])


async def resend_enrolment(
    session: AsyncSession, settings: Settings, *, by: Staff, member: Staff
) -> StaffOutcome:
    """A new link for a member who has not finished enrolling (the previous links stop working)."""
    if member.disabled_at is not None:
        return StaffOutcome({"form": _("This account is disabled: it cannot receive a link.")})
    if member.totp_confirmed_at is not None:
        return StaffOutcome({"form": _("This member has already set up their account.")})
    message_id = await _send_link(session, settings, member, by)
    audit.record(session, "staff.enrolment_resent", staff_id=by.id, target=str(member.id))
    return StaffOutcome(member=member, message_ids=[message_id])


async def _send_link(session: AsyncSession, settings: Settings, member: Staff, by: Staff) -> uuid.UUID:
    await _forget_links(session, member.id)
    token = secrets.token_urlsafe(32)
    session.add(
        StaffEnrolment(
            token_hash=token_hash(token),
            staff_id=member.id,
            created_by=by.id,
            expires_at=clock.now() + ENROLMENT_LIFETIME,
        )
    )
    link = coop_url(ENROLMENT_PREFIX + token, settings)
    chosen = i18n.current_locale.set(member.locale or i18n.DEFAULT_LOCALE)  # the invitee's language
    try:
        subject = _("Your account on the Bip Pop co-operative console")
        lines = [
            _("Hello %(name)s,") % {"name": member.display_name},
            "",
            _("An account has been opened for you on the co-operative's console."),
            _("To choose your password and set up two-step sign-in, open this link:"),
            link,
            "",
            _("It works once, for 72 hours. If it has expired, ask an administrator for a new one."),
            _("If you did not expect this message, you can ignore it."),
            "",
            "— Bip Pop",
        ]
    finally:
        i18n.current_locale.reset(chosen)
    message = queue_platform_email(
        session, purpose=ENROLMENT_PURPOSE, recipient=member.email, subject=subject, body="\n".join(lines)
    )
    return message.id


async def _forget_links(session: AsyncSession, staff_id: uuid.UUID) -> None:
    await session.execute(
        delete(StaffEnrolment).where(StaffEnrolment.staff_id == staff_id, StaffEnrolment.used_at.is_(None))
    )


# Roles and disabling -------------------------------------------------------------------------------


async def change_role(session: AsyncSession, *, by: Staff, member: Staff, role: str) -> StaffOutcome:
    """The member's role from now on; their sessions end so that it applies at once."""
    if problem := role_problem(role):
        return StaffOutcome({"role": problem})
    if member.roles == [role]:
        return StaffOutcome(member=member)
    if role != "coop_admin" and await _last_admin(session, member):
        return StaffOutcome({"role": _last_admin_message()})
    before = sorted(member.roles)
    member.roles = [role]
    audit.record(session, "staff.roles", staff_id=by.id, target=str(member.id), before=before, after=[role])
    return StaffOutcome(member=member, end_sessions=True)


async def disable(session: AsyncSession, *, by: Staff, member: Staff) -> StaffOutcome:
    """No more sign-in for the member, no more enrolment link; the handler ends their sessions."""
    if member.id == by.id:
        return StaffOutcome({"form": _("You cannot disable your own account.")})
    if member.disabled_at is not None:
        return StaffOutcome(member=member)
    if await _last_admin(session, member):
        return StaffOutcome({"form": _last_admin_message()})
    member.disabled_at = clock.now()
    await _forget_links(session, member.id)
    audit.record(session, "staff.disable", staff_id=by.id, target=str(member.id))
    return StaffOutcome(member=member, end_sessions=True)


def _last_admin_message() -> str:
    return _(
        "The co-operative must keep at least one active administrator who can sign in: "
        "make someone else an administrator first."
    )


async def _last_admin(session: AsyncSession, member: Staff) -> bool:
    """Whether ``member`` is the last active administrator who can sign in (second factor set up).

    The administrators' rows are locked: two administrators demoting each other at once are served one
    after the other, and the second sees the first's change."""
    if "coop_admin" not in member.roles or member.disabled_at is not None:
        return False
    admins = await session.scalars(
        select(Staff.id)
        .where(
            Staff.roles.contains(["coop_admin"]),
            Staff.disabled_at.is_(None),
            Staff.totp_confirmed_at.is_not(None),
        )
        .with_for_update()
    )
    return not any(admin_id != member.id for admin_id in admins)


# Using a link --------------------------------------------------------------------------------------


async def enrolment_member(session: AsyncSession, token: str) -> Staff | None:
    """The member a link enrols, while it is unused and unexpired (and the account not disabled)."""
    if not token or len(token) > MAX_TOKEN:
        return None
    member: Staff | None = await session.scalar(
        select(Staff)
        .join(StaffEnrolment, StaffEnrolment.staff_id == Staff.id)
        .where(
            StaffEnrolment.token_hash == token_hash(token),
            StaffEnrolment.used_at.is_(None),
            StaffEnrolment.expires_at > clock.now(),
            Staff.disabled_at.is_(None),
            Staff.totp_confirmed_at.is_(None),  # enrolled since: the link no longer replaces a password
        )
    )
    return member


def consume_statement(token: str, now: datetime.datetime) -> ReturningUpdate[tuple[uuid.UUID]]:
    """Mark the link used if it still works, returning its member's id: of two uses at once, the
    second waits for the first's row lock, then finds ``used_at`` set and returns nothing."""
    return (
        update(StaffEnrolment)
        .where(
            StaffEnrolment.token_hash == token_hash(token),
            StaffEnrolment.used_at.is_(None),
            StaffEnrolment.expires_at > now,
        )
        .values(used_at=now)
        .returning(StaffEnrolment.staff_id)
    )


async def use_enrolment(session: AsyncSession, token: str, password_hash: str) -> Staff | None:
    """Spend the link and give its member their password; None when it no longer works."""
    if not token or len(token) > MAX_TOKEN:
        return None
    now = clock.now()
    staff_id = await session.scalar(consume_statement(token, now))
    member = await session.get(Staff, staff_id, populate_existing=True) if staff_id else None
    if member is None or member.disabled_at is not None or member.totp_confirmed_at is not None:
        return None
    member.password_hash = password_hash
    audit.record(session, "staff.enrolled", staff_id=member.id, target=str(member.id))
    return member
