"""Account flows behind the pages: checking a password, single-use links, sign-up, invitations, mail.

Links are random 256-bit secrets; only their SHA-256 is stored, each works once and expires.
Answers never tell whether an e-mail address has an account (no enumeration): the pages say
"if an account exists, we sent a message", a sign-up with a known address mails its owner, and a link
asked for an address without an account mails that address instead; each branch does the same work
(a password hash, one outbox row), so the time of the answer tells nothing either.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop import clock
from bippop.accounts import passwords
from bippop.accounts.models import AccountToken, Person
from bippop.outbox.models import OutboxMessage
from bippop.outbox.writing import queue_email
from bippop.web.i18n import _, current_locale

TOKEN_LIFETIMES = {
    "verify_email": datetime.timedelta(hours=48),
    "reset_password": datetime.timedelta(hours=1),
    "sign_in_link": datetime.timedelta(minutes=20),
    "invitation": datetime.timedelta(days=7),
}


def normalise_email(value: str) -> str:
    return value.strip().lower()


# One address, no display name, nothing a mail header could read as a second address (a comma would
# send the message to two mailboxes).
STRICT_EMAIL = re.compile(r"[^@\s,;:<>\"()\[\]\\]+@[^@\s,;:<>\"()\[\]\\]+\.[^@\s,;:<>\"()\[\]\\]+")


def looks_like_email(value: str) -> bool:
    return len(value) <= 254 and STRICT_EMAIL.fullmatch(value) is not None


def now_utc() -> datetime.datetime:
    return clock.now()


async def person_by_email(session: AsyncSession, email: str) -> Person | None:
    found: Person | None = await session.scalar(
        select(Person).where(func.lower(Person.email) == normalise_email(email))
    )
    return found


async def authenticate(session: AsyncSession, email: str, password: str) -> Person | None:
    """The person whose address and password these are (and who may sign in), else None."""
    person = await person_by_email(session, email)
    # An unknown address costs one hash check too: timing does not tell which addresses exist.
    if (
        not await passwords.verify_password_off_loop(person.password_hash if person else None, password)
        or person is None
    ):
        return None
    if person.password_hash and passwords.needs_rehash(person.password_hash):
        person.password_hash = await passwords.hash_password_off_loop(password)
    return person if person.can_sign_in else None


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def issue_token(
    session: AsyncSession,
    purpose: str,
    *,
    person_id: uuid.UUID | None = None,
    email: str | None = None,
    roles: Sequence[str] = (),
    created_by: uuid.UUID | None = None,
) -> str:
    """A new single-use link secret for ``purpose``; older unused ones of the same person and purpose
    stop working (the latest e-mail is the one that counts)."""
    if person_id is not None:
        # One statement, not a read then writes: a known address costs about what an unknown one does.
        await session.execute(
            update(AccountToken)
            .where(
                AccountToken.person_id == person_id,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
            )
            .values(used_at=now_utc())
        )
    return add_token(session, purpose, person_id=person_id, email=email, roles=roles, created_by=created_by)


def add_token(
    session: AsyncSession | Session,
    purpose: str,
    *,
    person_id: uuid.UUID | None = None,
    email: str | None = None,
    roles: Sequence[str] = (),
    created_by: uuid.UUID | None = None,
) -> str:
    """The new link's secret, its hash added to the session (sync or async: it only adds a row)."""
    raw = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            id=uuid.uuid4(),
            purpose=purpose,
            token_hash=token_hash(raw),
            person_id=person_id,
            email=normalise_email(email) if email else None,
            roles=list(roles),
            created_by=created_by,
            expires_at=now_utc() + TOKEN_LIFETIMES[purpose],
        )
    )
    return raw


@dataclasses.dataclass(frozen=True)
class TokenCheck:
    token: AccountToken | None
    problem: str | None  # "unknown", "used", "expired"


async def check_token(session: AsyncSession, raw: str, *, lock: bool = False) -> TokenCheck:
    if not raw or len(raw) > 100:
        return TokenCheck(None, "unknown")
    query = select(AccountToken).where(AccountToken.token_hash == token_hash(raw))
    if lock:
        query = query.with_for_update()
    token = await session.scalar(query)
    if token is None:
        return TokenCheck(None, "unknown")
    if token.used_at is not None:
        return TokenCheck(token, "used")
    if token.expires_at <= now_utc():
        return TokenCheck(token, "expired")
    return TokenCheck(token, None)


def token_problem_message(problem: str) -> str:
    return {
        "used": _("This link has already been used. Each link works only once."),
        "expired": _("This link has expired. Ask for a new one below."),
    }.get(problem, _("This link is not valid. Check that you copied all of it, or ask for a new one."))


def email_body(greeting_name: str | None, lines: Sequence[str], link: str | None, tenant_name: str) -> str:
    parts = [_("Hello %(name)s,") % {"name": greeting_name} if greeting_name else _("Hello,"), ""]
    parts.extend(lines)
    if link:
        parts.extend(["", link])
    parts.extend(
        [
            "",
            _("If you did not ask for this, you can ignore this message."),
            "",
            "— " + tenant_name,
        ]
    )
    return "\n".join(parts)


def mail_link(
    session: AsyncSession | Session,
    *,
    purpose: str,
    recipient: str,
    person: Person | None,
    link: str | None,
    tenant_name: str,
) -> OutboxMessage:
    """The e-mail for one account flow, in the person's language, written to the outbox."""
    token = current_locale.set(person.locale if person is not None else current_locale.get())
    try:
        subject, lines = _mail_text(purpose, tenant_name)
        body = email_body(person.display_name if person else None, lines, link, tenant_name)
    finally:
        current_locale.reset(token)
    return queue_email(
        session,
        purpose=purpose,
        recipient=recipient,
        subject=subject,
        body=body,
        person_id=person.id if person else None,
    )


def _mail_text(purpose: str, tenant_name: str) -> tuple[str, list[str]]:
    name = {"name": tenant_name}
    if purpose == "verify_email":
        return _("Confirm your e-mail address — %(name)s") % name, [
            _("Please confirm your e-mail address by opening this link (valid 48 hours):")
        ]
    if purpose == "reset_password":
        return _("Choose a new password — %(name)s") % name, [
            _("To choose a new password, open this link (valid one hour, once):")
        ]
    if purpose == "sign_in_link":
        return _("Your sign-in link — %(name)s") % name, [
            _("To sign in, open this link (valid 20 minutes, once):")
        ]
    if purpose == "invitation":
        return _("You are invited to join %(name)s") % name, [
            _("You have been invited to join the mutual-aid service of %(name)s.") % name,
            _("To accept and create your account, open this link (valid 7 days):"),
        ]
    if purpose == "already_registered":
        return _("Someone tried to create an account with your address — %(name)s") % name, [
            _(
                "An account already exists for this address. If it was you, sign in, or ask for a new password on the sign-in page."
            )
        ]
    if purpose == "no_account":
        return _("About your request — %(name)s") % name, [
            _(
                "Someone asked for a sign-in link or a new password with this address on the mutual-aid service of %(name)s, but no account there can be used with it."
            )
            % name,
            _(
                "If it was you, you may have signed up with another address, or you can create an account on the service's sign-up page."
            ),
        ]
    raise ValueError(purpose)
