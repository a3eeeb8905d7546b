"""Co-op staff identities: checking a password and the second factor, and managing accounts (CLI).

Staff are not people of any tenant: their accounts live in ``platform.staff``. Accounts are created
with ``bippop staff create`` (with a password, on the migrator's connection) or invited from the
console (``coop.services.staff``: no password until the one-time enrolment link is used, so such an
account cannot sign in before). The second factor is always required; the TOTP helpers of
``accounts.mfa`` work on a ``Staff`` with the recovery codes of ``platform.staff_recovery_codes``.
Answers never tell whether an address belongs to a staff member, timing included.
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop import clock
from bippop.accounts import mfa, passwords
from bippop.accounts.services import looks_like_email, normalise_email
from bippop.accounts.staff_models import STAFF_ROLES, Staff, StaffRecoveryCode

TOTP_ISSUER_SUFFIX = "Coop"  # the authenticator app shows "Bip Pop Coop"
SecondFactor = Literal["totp", "recovery_code"]


class StaffError(ValueError):
    """A staff operation refused for a reason the operator can fix (French, for the CLI)."""


def _by_email(email: str) -> Select[Staff]:
    return select(Staff).where(func.lower(Staff.email) == normalise_email(email))


# Signing in (web, async) ---------------------------------------------------------------------------


async def staff_by_email(session: AsyncSession, email: str) -> Staff | None:
    found: Staff | None = await session.scalar(_by_email(email))
    return found


async def authenticate(session: AsyncSession, email: str, password: str) -> Staff | None:
    """The staff member whose address and password these are (and who may sign in), else None.

    An unknown address costs one hash check too, so timing does not tell which addresses exist.
    """
    staff = await staff_by_email(session, email) if looks_like_email(email) else None
    stored = staff.password_hash if staff is not None else None
    if not await passwords.verify_password_off_loop(stored, password) or staff is None or stored is None:
        return None
    if passwords.needs_rehash(stored):
        staff.password_hash = await passwords.hash_password_off_loop(password)
    return staff if staff.can_sign_in else None


async def check_second_factor(
    session: AsyncSession, staff: Staff, code: str, secret_key: str, now: float
) -> SecondFactor | None:
    """A code from the authenticator app (each accepted once) or an unused recovery code (then burnt).

    The caller commits: the last used time step or the burnt code must be saved.
    """
    if mfa.verify(staff, code, secret_key, now):
        return "totp"
    if staff.totp_confirmed_at is not None and len(code.replace("-", "").replace(" ", "")) == 10:
        used = await session.run_sync(
            lambda s: mfa.use_recovery_code(s, staff, code, now, code_model=StaffRecoveryCode)
        )
        if used:
            return "recovery_code"
    return None


async def confirm_enrollment(
    session: AsyncSession, staff: Staff, code: str, secret_key: str, now: float
) -> list[str]:
    """The first code from the app: TOTP on, new recovery codes returned (raises ``mfa.MfaError``)."""
    return await session.run_sync(
        lambda s: mfa.confirm_enrollment(s, staff, code, secret_key, now, code_model=StaffRecoveryCode)
    )


# Managing accounts (CLI, sync, migrator's connection) ---------------------------------------------


def create_staff(session: Session, *, email: str, name: str, role: str, password: str) -> Staff:
    """A new staff member, who will set up the second factor at the first sign-in."""
    email, name = normalise_email(email), name.strip()
    if not looks_like_email(email):
        raise StaffError("Adresse électronique invalide (exemple : prenom.nom@exemple.fr).")
    if not 1 <= len(name) <= 120:
        raise StaffError("Le nom doit compter entre 1 et 120 caractères.")
    if role not in STAFF_ROLES:
        raise StaffError(f"Rôle « {role} » inconnu : {', '.join(STAFF_ROLES)}.")
    problems = passwords.password_problems(password, [name, email, "coop", "cooperative", "coopérative"])
    if problems:
        raise StaffError(problems[0].message)
    if session.scalar(_by_email(email)) is not None:
        raise StaffError("Un membre de l'équipe a déjà cette adresse.")
    staff = Staff(
        id=uuid.uuid4(),
        display_name=name,
        email=email,
        password_hash=passwords.hash_password(password),
        roles=[role],
    )
    session.add(staff)
    return staff


def all_staff(session: Session) -> list[Staff]:
    return list(session.scalars(select(Staff).order_by(func.lower(Staff.email))))


def disable_staff(session: Session, email: str) -> Staff:
    """No more sign-in for this staff member (their open sessions are ended by the caller)."""
    staff = session.scalar(_by_email(email))
    if staff is None:
        raise StaffError("Aucun membre de l'équipe avec cette adresse.")
    if staff.disabled_at is None:
        staff.disabled_at = clock.now()
    return staff


async def end_staff_sessions(redis_url: str, staff_id: uuid.UUID) -> int:
    """Sign a staff member out everywhere (after disabling the account)."""
    from redis.asyncio import Redis

    from bippop.accounts.auth import COOP_SCOPE
    from bippop.accounts.sessions import SessionStore

    redis = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=3)
    try:
        return await SessionStore(redis).end_all_for(COOP_SCOPE, staff_id)
    finally:
        await redis.aclose()  # type: ignore[attr-defined]
