"""Use cases of the tenant's staff on people: inviting someone, changing a person's roles, recording
and revoking a relative's mandate. Each checks its rules, writes its audit record and its outbox rows,
and answers an ``AccountOutcome``; the page commits and announces."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts.auth import Identity
from bippop.accounts.deps import AccountsRequest
from bippop.accounts.mandates import may_act_for
from bippop.accounts.models import MANDATE_CONSENTS, ROLES, AccountToken, Mandate, Person
from bippop.accounts.permissions import invitable_roles
from bippop.accounts.services.links import (
    issue_token,
    looks_like_email,
    mail_link,
    normalise_email,
    now_utc,
    token_hash,
)
from bippop.accounts.services.outcome import AccountOutcome
from bippop.accounts.services.people import with_role
from bippop.web.forms import form_problems, parse_uuid
from bippop.web.i18n import _


async def invite(
    db_session: AsyncSession,
    caller: AccountsRequest,
    inviter: Identity,
    email: str,
    roles: list[str],
    form: dict[str, str],
) -> AccountOutcome:
    """An invitation mailed to ``email`` with the roles the inviter may give; it replaces older ones."""
    offered = invitable_roles(inviter.roles)
    errors: dict[str, str] = {}
    if not looks_like_email(email):
        errors["email"] = _("Enter an e-mail address like name@example.fr.")
    if not roles:
        errors["roles"] = _("Choose at least one role.")
    elif any(role not in offered for role in roles):
        errors["roles"] = _("Choose roles from the list: your role does not let you give the others.")
    errors.update(form_problems(form))
    if errors:
        return AccountOutcome.refused(errors)
    if refused := await caller.hit("invitation", email):
        return AccountOutcome.refused({"form": refused}, status=429)
    address = normalise_email(email)
    ordered = [role for role in ROLES if role in roles]
    # The latest invitation to an address is the one that counts.
    for old in await db_session.scalars(
        select(AccountToken).where(
            AccountToken.purpose == "invitation",
            AccountToken.email == address,
            AccountToken.used_at.is_(None),
        )
    ):
        old.used_at = now_utc()
    raw = await issue_token(
        db_session, "invitation", email=address, roles=ordered, created_by=inviter.person_id
    )
    await db_session.flush()
    invitation_id = await db_session.scalar(
        select(AccountToken.id).where(AccountToken.token_hash == token_hash(raw))
    )
    message = mail_link(
        db_session,
        purpose="invitation",
        recipient=address,
        person=None,
        link=caller.link(raw),
        tenant_name=caller.tenant.name,
    )
    audit.record(
        db_session,
        "invitation_sent",
        actor_id=inviter.person_id,
        subject_type="invitation",
        subject_id=invitation_id,
        details={"roles": ordered, "message_id": str(message.id)},
    )
    return AccountOutcome(message_ids=[message.id])


async def change_roles(
    db_session: AsyncSession,
    caller: AccountsRequest,
    actor: Identity,
    person_id: uuid.UUID,
    chosen: list[str],
    form: dict[str, str],
) -> AccountOutcome:
    """The person's new roles (``subject`` is the person, None when unknown); ``done`` is False when
    nothing changed. The person's sessions end: they sign in again to get the new roles."""
    # Lock the administrators first, always in the same order, then the person: two administrators
    # removing each other at the same moment cannot both succeed, nor deadlock.
    admin_ids = list(
        await db_session.scalars(
            select(Person.id)
            .where(with_role("tenant_admin"), Person.disabled_at.is_(None))
            .order_by(Person.id)
            .with_for_update()
        )
    )
    person = await db_session.get(Person, person_id, with_for_update=True)
    if person is None:
        return AccountOutcome(done=False)
    errors: dict[str, str] = {}
    if not chosen:
        errors["roles"] = _("Choose at least one role.")
    elif any(role not in ROLES for role in chosen):
        errors["roles"] = _("Choose roles from the list.")
    errors.update(form_problems(form))
    before = [role for role in ROLES if role in person.roles]
    after = [role for role in ROLES if role in chosen]
    last_admin = (
        "tenant_admin" in before
        and "tenant_admin" not in after
        and not [i for i in admin_ids if i != person.id]
    )
    if not errors and last_admin:
        errors["roles"] = _(
            "This person is the service's last administrator. Make someone else an administrator first."
        )
    if errors:
        return AccountOutcome(done=False, errors=errors, subject=person)
    if after == before:
        return AccountOutcome(done=False, subject=person)
    person.roles = after
    audit.record(
        db_session,
        "role_changed",
        actor_id=actor.person_id,
        subject_type="person",
        subject_id=person.id,
        details={"before": before, "after": after},
    )
    await db_session.commit()
    # The roles of a session are those of its sign-in: the person signs in again to get the new ones.
    await caller.sessions.end_all_for(caller.tenant.id, person.id)
    return AccountOutcome(subject=person)


async def record_mandate(db_session: AsyncSession, actor: Identity, form: dict[str, str]) -> AccountOutcome:
    """A relative's mandate to act for a person helped, with the consent it rests on."""
    relative_id, beneficiary_id = parse_uuid(form.get("relative_id")), parse_uuid(form.get("beneficiary_id"))
    consent = str(form.get("consent", ""))
    errors: dict[str, str] = {}
    relative = await db_session.get(Person, relative_id) if relative_id else None
    # Locking the beneficiary serialises mandates for one person: no duplicate from two coordinators.
    beneficiary = (
        await db_session.get(Person, beneficiary_id, with_for_update=True) if beneficiary_id else None
    )
    if relative is None or "relative" not in relative.roles or relative.disabled_at is not None:
        errors["relative_id"] = _("Choose the relative in the list.")
    if beneficiary is None or "beneficiary" not in beneficiary.roles or beneficiary.disabled_at is not None:
        errors["beneficiary_id"] = _("Choose the person helped in the list.")
    elif relative is not None and relative.id == beneficiary.id:
        errors["beneficiary_id"] = _("A person cannot hold a mandate for themselves.")
    if consent not in MANDATE_CONSENTS:
        errors["consent"] = _("Choose how the person helped gave their consent.")
    errors.update(form_problems(form))
    if (
        not errors
        and relative is not None
        and beneficiary is not None
        and await may_act_for(db_session, relative.id, beneficiary.id)
    ):
        errors["beneficiary_id"] = _("This relative can already act for this person.")
    if errors:
        return AccountOutcome.refused(errors)
    assert relative is not None and beneficiary is not None
    mandate = Mandate(
        id=uuid.uuid4(),
        relative_id=relative.id,
        beneficiary_id=beneficiary.id,
        consent=consent,
        recorded_by=actor.person_id,
    )
    db_session.add(mandate)
    audit.record(
        db_session,
        "mandate_recorded",
        actor_id=actor.person_id,
        subject_type="mandate",
        subject_id=mandate.id,
        details={"relative_id": str(relative.id), "beneficiary_id": str(beneficiary.id), "consent": consent},
    )
    return AccountOutcome(subject=mandate)


async def revoke_mandate(db_session: AsyncSession, actor: Identity, mandate_id: uuid.UUID) -> AccountOutcome:
    """The mandate ends (``subject`` None when there is no such mandate; revoking twice is harmless)."""
    mandate = await db_session.get(Mandate, mandate_id, with_for_update=True)
    if mandate is None:
        return AccountOutcome(done=False)
    if mandate.revoked_at is None:
        mandate.revoked_at = now_utc()
        audit.record(
            db_session,
            "mandate_revoked",
            actor_id=actor.person_id,
            subject_type="mandate",
            subject_id=mandate.id,
            details={"relative_id": str(mandate.relative_id), "beneficiary_id": str(mandate.beneficiary_id)},
        )
    return AccountOutcome(subject=mandate)


def record_record_read(db_session: AsyncSession, actor: Identity, person: Person) -> None:
    """Reading a person helped's record is recorded (the request's transaction commits it)."""
    if "beneficiary" in person.roles:
        audit.record(
            db_session,
            "beneficiary_record_read",
            actor_id=actor.person_id,
            subject_type="person",
            subject_id=person.id,
        )
