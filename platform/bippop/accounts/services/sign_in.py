"""Use cases of signing in: the password step, the second factor, and what is recorded when a person
signs in or out. Sessions and cookies stay with the pages (``accounts/controllers/sign_in.py``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit, mfa
from bippop.accounts import services as accounts
from bippop.accounts.deps import AccountsRequest
from bippop.accounts.models import Person
from bippop.accounts.services.links import issue_token, mail_link
from bippop.accounts.services.outcome import AccountOutcome
from bippop.web.forms import form_problems
from bippop.web.i18n import _


async def check_password(
    db_session: AsyncSession, caller: AccountsRequest, form: dict[str, str]
) -> AccountOutcome:
    """The person whose e-mail and password these are (``subject``), or the errors to show; an
    address not yet confirmed gets a new confirmation link."""
    email, password = form.get("email", ""), form.get("password", "")
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = _("Enter your e-mail address.")
    if not password:
        errors["password"] = _("Enter your password.")
    errors.update(form_problems(form))
    if errors:
        return AccountOutcome.refused(errors)
    if refused := await caller.hit("sign_in", email):
        return AccountOutcome.refused({"form": refused})
    person = await accounts.authenticate(db_session, email, password)
    if person is None:
        return AccountOutcome.refused(
            {"password": _("The e-mail address or the password is not right. Check them and try again.")}
        )
    if person.email_verified_at is None:
        token = await issue_token(db_session, "verify_email", person_id=person.id, email=person.email)
        message = mail_link(
            db_session,
            purpose="verify_email",
            recipient=person.email or "",
            person=person,
            link=caller.link(token),
            tenant_name=caller.tenant.name,
        )
        outcome = AccountOutcome.refused(
            {"form": _("Please confirm your e-mail address first: we have just sent you a new link.")}
        )
        outcome.message_ids.append(message.id)
        return outcome
    # With a second factor, the account's failed attempts keep counting until the code is right too;
    # the address is not charged for a right password.
    await caller.forget("sign_in", email if person.totp_confirmed_at is None else None)
    return AccountOutcome(subject=person)


async def check_second_factor(
    db_session: AsyncSession,
    caller: AccountsRequest,
    person: Person,
    code: str,
    *,
    method: str,
    now: float,
) -> AccountOutcome:
    """The code from the app (or a recovery code) for a person whose password was right."""
    account = person.email or str(person.id)
    if refused := await caller.hit("sign_in", account):
        return AccountOutcome.refused({"code": refused})
    if not code:
        return AccountOutcome.refused(
            {"code": _("Enter the 6-digit code from your app, or one of your recovery codes.")}
        )
    ok = mfa.verify(person, code, caller.settings.effective_secret_key(), now)
    used_recovery = False
    if not ok and len(code.replace("-", "").replace(" ", "")) == 10:
        ok = await db_session.run_sync(lambda s: mfa.use_recovery_code(s, person, code, now))
        used_recovery = ok
    if not ok:
        audit.record(
            db_session,
            "sign_in_failed",
            subject_type="person",
            subject_id=person.id,
            details={"reason": "second_factor"},
        )
        return AccountOutcome.refused(
            {
                "code": _(
                    "This code is not right. Codes change every 30 seconds: enter the one your app shows now."
                )
            }
        )
    await caller.forget("sign_in", account)
    record_sign_in(
        db_session, person, {"method": method, "second_factor": "recovery_code" if used_recovery else "totp"}
    )
    return AccountOutcome(subject=person)


def record_sign_in(db_session: AsyncSession, person: Person, details: dict[str, Any]) -> None:
    audit.record(
        db_session,
        "sign_in",
        actor_id=person.id,
        subject_type="person",
        subject_id=person.id,
        details=details,
    )


def record_sign_out(db_session: AsyncSession, person_id: uuid.UUID, *, everywhere: bool = False) -> None:
    audit.record(
        db_session,
        "sign_out_everywhere" if everywhere else "sign_out",
        actor_id=person_id,
        subject_type="person",
        subject_id=person_id,
    )
