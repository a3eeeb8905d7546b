"""The platform invites a tenant's administrator (``bippop tenants create --admin-email``,
``bippop tenants invite-admin``): nobody of the tenant is signed in yet, so the invitation is written
by the platform itself, in the tenant's scope, through a plain (synchronous) session.

The invitation is the one staff send (``AccountToken`` purpose ``invitation``): accepting it sets a
password, and an administrator is then required to enrol two-step sign-in at the first sign-in.
"""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bippop.accounts import audit
from bippop.accounts.models import AccountToken
from bippop.accounts.services.links import add_token, looks_like_email, mail_link, normalise_email, now_utc
from bippop.config import Settings
from bippop.tenants.context import TenantRef
from bippop.tenants.errors import TenantError
from bippop.tenants.urls import tenant_url

ADMIN_ROLES = ("tenant_admin",)


@dataclasses.dataclass(frozen=True)
class AdminInvitation:
    email: str
    invitation_id: uuid.UUID
    message_id: uuid.UUID


def check_admin_email(email: str | None) -> str:
    """The normalised address, or a refusal that says why an administrator is needed and how."""
    if not email or not email.strip():
        raise TenantError(
            "Une collectivité sans administrateur ne pourrait jamais être gérée : donnez l'adresse "
            "de son administrateur avec --admin-email prenom.nom@mairie.fr (une invitation lui est envoyée).",
            field="admin_email",
        )
    if not looks_like_email(email.strip()):
        raise TenantError(
            f"« {email} » n'est pas une adresse électronique : écrivez-la comme prenom.nom@mairie.fr.",
            field="admin_email",
        )
    return normalise_email(email)


def invite_admin(session: Session, tenant: TenantRef, email: str, settings: Settings) -> AdminInvitation:
    """Write, in ``session`` (scoped to ``tenant``), an administrator's invitation to ``email``, its
    e-mail in the tenant's outbox and the audit record; older unused invitations to the address stop
    working. The caller commits, then announces ``message_id`` (the sweeper sends it otherwise)."""
    address = check_admin_email(email)
    session.execute(
        update(AccountToken)
        .where(
            AccountToken.purpose == "invitation",
            AccountToken.email == address,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now_utc())
    )
    raw = add_token(session, "invitation", email=address, roles=ADMIN_ROLES)
    session.flush()
    invitation_id = session.scalar(
        select(AccountToken.id).where(AccountToken.email == address, AccountToken.used_at.is_(None))
    )
    assert invitation_id is not None
    message = mail_link(
        session,
        purpose="invitation",
        recipient=address,
        person=None,
        # The tenant's registered address: there is no request, hence no Host header, here.
        link=tenant_url(tenant, f"/lien/{raw}", settings),
        tenant_name=tenant.name,
    )
    audit.record(
        session,
        "invitation_sent",
        subject_type="invitation",
        subject_id=invitation_id,
        details={"roles": list(ADMIN_ROLES), "message_id": str(message.id), "by": "platform"},
    )
    return AdminInvitation(email=address, invitation_id=invitation_id, message_id=message.id)
