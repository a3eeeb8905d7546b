"""Use cases of people coming in on their own: signing up, and asking for a link by e-mail (sign-in
link or password reset). Neither answer tells whether an address has an account: each branch does
the same work (a password hash, one outbox row)."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import passwords
from bippop.accounts.deps import AccountsRequest
from bippop.accounts.services.links import (
    issue_token,
    looks_like_email,
    mail_link,
    normalise_email,
    person_by_email,
)
from bippop.accounts.services.outcome import AccountOutcome
from bippop.accounts.services.people import new_person
from bippop.web.forms import form_problems
from bippop.web.i18n import _

SELF_SERVICE_ROLES = ("beneficiary", "relative", "volunteer")


def sign_up_problems(caller: AccountsRequest, form: dict[str, str]) -> dict[str, str]:
    name, email, password, role = (form.get(k, "") for k in ("display_name", "email", "password", "role"))
    errors: dict[str, str] = {}
    if not name:
        errors["display_name"] = _("Enter the name you want to be called by.")
    elif len(name) > 120:
        errors["display_name"] = _("The name must have at most 120 characters.")
    if not looks_like_email(email):
        errors["email"] = _("Enter an e-mail address like name@example.fr.")
    if role not in SELF_SERVICE_ROLES:
        errors["role"] = _("Choose what brings you here.")
    problems = passwords.password_problems(password, [name, email, caller.tenant.name])
    if problems:
        errors["password"] = problems[0].message
    errors.update(form_problems(form))
    return errors


async def sign_up(
    db_session: AsyncSession, caller: AccountsRequest, form: dict[str, str], locale: str
) -> AccountOutcome:
    """A new account and its confirmation link; a known address gets a mail to its owner instead."""
    errors = sign_up_problems(caller, form)
    if not errors and (refused := await caller.hit("sign_up", form["email"])):
        errors["form"] = refused
    if errors:
        return AccountOutcome.refused(errors)
    name, email, role = form["display_name"], form["email"], form["role"]
    # Hashed whether or not the address is known: both answers then take the same time.
    password_hash = await passwords.hash_password_off_loop(form["password"])
    existing = await person_by_email(db_session, email)
    if existing is not None:
        message = mail_link(
            db_session,
            purpose="already_registered",
            recipient=existing.email or email,
            person=existing,
            link=None,
            tenant_name=caller.tenant.name,
        )
        return AccountOutcome(message_ids=[message.id])
    person = await new_person(
        db_session,
        display_name=name,
        email=normalise_email(email),
        password_hash=password_hash,
        roles=[role],
        locale=locale,
        method="sign_up",
    )
    token = await issue_token(db_session, "verify_email", person_id=person.id, email=email)
    message = mail_link(
        db_session,
        purpose="verify_email",
        recipient=person.email or email,
        person=person,
        link=caller.link(token),
        tenant_name=caller.tenant.name,
    )
    return AccountOutcome(message_ids=[message.id], subject=person)


async def ask_by_email(
    db_session: AsyncSession,
    caller: AccountsRequest,
    form: dict[str, str],
    purpose: str,
    limit: str,
    next_url: str,
) -> AccountOutcome:
    """A sign-in link or a reset link mailed to the address; an address without an account hears so."""
    email = form.get("email", "")
    invisible = form_problems(form)
    if invisible or not looks_like_email(email):
        return AccountOutcome.refused(
            invisible or {"email": _("Enter an e-mail address like name@example.fr.")}
        )
    if refused := await caller.hit(limit, email):
        return AccountOutcome.refused({"form": refused}, status=429)
    person = await person_by_email(db_session, email)
    if person is not None and person.can_sign_in:
        token = await issue_token(db_session, purpose, person_id=person.id, email=email)
        link = caller.link(token)
        if purpose == "sign_in_link":
            link += "?" + urlencode({"next_url": next_url})
        message = mail_link(
            db_session,
            purpose=purpose,
            recipient=person.email or email,
            person=person,
            link=link,
            tenant_name=caller.tenant.name,
        )
    else:
        # The owner of the address hears it has no account here: the same work, hence the same time.
        message = mail_link(
            db_session,
            purpose="no_account",
            recipient=email,
            person=person,
            link=None,
            tenant_name=caller.tenant.name,
        )
    return AccountOutcome(message_ids=[message.id])
