"""Using a single-use link (``/lien/<secret>``): accepting an invitation, choosing a new password after
a reset, confirming an e-mail address, or signing in. The one who opened the link is then signed in
by the page."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit, passwords
from bippop.accounts.deps import AccountsRequest
from bippop.accounts.models import AccountToken, Person
from bippop.accounts.services.links import now_utc, person_by_email, token_problem_message
from bippop.accounts.services.outcome import AccountOutcome
from bippop.accounts.services.people import new_person
from bippop.web.i18n import _


async def use_link(
    db_session: AsyncSession, caller: AccountsRequest, record: AccountToken, form: dict[str, str]
) -> AccountOutcome:
    """The person to sign in (``subject``), or the errors to show (``problem`` when the link cannot be
    used at all); the link is marked used on success."""
    person = await db_session.get(Person, record.person_id) if record.person_id else None
    if record.purpose == "invitation":
        outcome = await accept_invitation(db_session, caller, record, form)
        if not outcome.done:
            return outcome
        person = outcome.subject
    elif person is None or not person.can_sign_in:
        return AccountOutcome.refused({"problem": token_problem_message("unknown")})
    elif record.purpose == "reset_password":
        password = form.get("password", "")
        problems = passwords.password_problems(
            password, [person.display_name, person.email or "", caller.tenant.name]
        )
        if problems:
            return AccountOutcome.refused({"password": problems[0].message})
        person.password_hash = await passwords.hash_password_off_loop(password)
        person.email_verified_at = person.email_verified_at or now_utc()
        audit.record(
            db_session, "password_reset", actor_id=person.id, subject_type="person", subject_id=person.id
        )
        await caller.sessions.end_all_for(caller.tenant.id, person.id)
    elif record.purpose == "verify_email":
        person.email_verified_at = now_utc()
        audit.record(
            db_session, "email_verified", actor_id=person.id, subject_type="person", subject_id=person.id
        )
    record.used_at = now_utc()
    await db_session.flush()
    return AccountOutcome(subject=person)


async def accept_invitation(
    db_session: AsyncSession, caller: AccountsRequest, record: AccountToken, form: dict[str, str]
) -> AccountOutcome:
    """The invited person's account, made or given the invitation's roles, with its new password."""
    if refused := await caller.hit("invitation", record.email):
        return AccountOutcome.refused({"form": refused}, status=429)
    name, password = form.get("display_name", ""), form.get("password", "")
    errors: dict[str, str] = {}
    if not name:
        errors["display_name"] = _("Enter the name you want to be called by.")
    problems = passwords.password_problems(password, [name, record.email or "", caller.tenant.name])
    if problems:
        errors["password"] = problems[0].message
    if errors:
        return AccountOutcome.refused(errors)
    details = {
        "roles": list(record.roles),
        "invited_by": str(record.created_by) if record.created_by else None,
    }
    person = await person_by_email(db_session, record.email or "")
    if person is None:
        person = await new_person(
            db_session,
            display_name=name[:120],
            email=record.email,
            roles=record.roles,
            locale="fr",
            method="invitation",
            password_hash=await passwords.hash_password_off_loop(password),
            email_verified=True,
            audit_action="invitation_accepted",
            audit_details=details,
        )
        return AccountOutcome(subject=person)
    person.roles = sorted({*person.roles, *record.roles})
    # New roles and a new password: the sessions opened before end, as after a reset.
    await caller.sessions.end_all_for(caller.tenant.id, person.id)
    person.password_hash = await passwords.hash_password_off_loop(password)
    person.email_verified_at = now_utc()
    await db_session.flush()
    audit.record(
        db_session,
        "invitation_accepted",
        actor_id=person.id,
        subject_type="person",
        subject_id=person.id,
        details=details,
    )
    return AccountOutcome(subject=person)
