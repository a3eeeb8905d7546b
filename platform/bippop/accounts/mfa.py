"""Two-factor sign-in: TOTP (any authenticator app) and single-use recovery codes.

Required for coordinators and tenant administrators (and co-op staff), offered to
everyone else. The TOTP secret is stored encrypted (Fernet, key derived from
BIPPOP_SECRET_KEY); a code is accepted once (the last used time step is kept),
with one step of clock drift either side. Recovery codes are random, shown once,
stored as SHA-256 hashes and burnt on use.

The functions take anyone who holds a second factor: a tenant's ``Person`` or a co-op
``Staff`` member, whose recovery codes live in their own table (``code_model``).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from typing import Protocol, cast

import pyotp
import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from bippop import sealing
from bippop.accounts.models import RecoveryCode
from bippop.accounts.staff_models import StaffRecoveryCode

MFA_REQUIRED_ROLES = frozenset({"coordinator", "tenant_admin"})
ISSUER = "Bip Pop"
RECOVERY_CODES = 10
DRIFT_STEPS = 1


class MfaError(ValueError):
    pass


class SecondFactorHolder(Protocol):
    """What these functions need of a person (tenant) or staff member (co-op)."""

    id: uuid.UUID
    totp_secret: str | None
    totp_confirmed_at: datetime.datetime | None
    totp_last_step: int | None


CodeModel = type[RecoveryCode] | type[StaffRecoveryCode]


def mfa_required(roles: Iterable[str]) -> bool:
    return bool(MFA_REQUIRED_ROLES.intersection(roles))


def new_secret() -> str:
    return pyotp.random_base32()


def seal(secret: str, secret_key: str) -> str:
    return sealing.seal(secret, secret_key, purpose="totp")


def unseal(sealed: str, secret_key: str) -> str:
    try:
        return sealing.unseal(sealed, secret_key, purpose="totp")
    except sealing.SealError:
        raise MfaError("the TOTP secret cannot be read with this BIPPOP_SECRET_KEY") from None


def provisioning_uri(secret: str, account: str, tenant_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=f"{ISSUER} {tenant_name}")


def qr_svg(uri: str, title: str) -> str:
    """An SVG QR code to scan with the authenticator app (the secret is also shown as text)."""
    return segno.make(uri, error="m").svg_inline(scale=5, title=title)


def _matching_step(secret: str, code: str, now: float) -> int | None:
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.datetime.fromtimestamp(now, datetime.UTC))
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def code_step(sealed: str, code: str, secret_key: str, now: float) -> int | None:
    """The time step a code from the app matches for this sealed secret (None: wrong code). For a secret
    that belongs to no one yet (a council's administrator during the sign-up wizard)."""
    return _matching_step(unseal(sealed, secret_key), code, now)


def start_enrollment(person: SecondFactorHolder, secret_key: str) -> str:
    """Give the person a new, unconfirmed secret; returns it in clear (to show once, with the QR code)."""
    secret = new_secret()
    person.totp_secret = seal(secret, secret_key)
    person.totp_confirmed_at = None
    person.totp_last_step = None
    return secret


def confirm_enrollment(
    session: Session,
    person: SecondFactorHolder,
    code: str,
    secret_key: str,
    now: float,
    *,
    code_model: CodeModel = RecoveryCode,
) -> list[str]:
    """Check the first code from the app; on success turns TOTP on and returns new recovery codes."""
    if not person.totp_secret:
        raise MfaError("no enrollment in progress")
    step = _matching_step(unseal(person.totp_secret, secret_key), code, now)
    if step is None:
        raise MfaError("wrong code")
    person.totp_last_step = step
    person.totp_confirmed_at = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return replace_recovery_codes(session, person, code_model=code_model)


def verify(person: SecondFactorHolder, code: str, secret_key: str, now: float) -> bool:
    """A code from the app, each accepted once."""
    if not person.totp_secret or person.totp_confirmed_at is None:
        return False
    step = _matching_step(unseal(person.totp_secret, secret_key), code, now)
    if step is None or (person.totp_last_step is not None and step <= person.totp_last_step):
        return False
    person.totp_last_step = step
    return True


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").replace(" ", "").upper().encode()).hexdigest()


def replace_recovery_codes(
    session: Session, person: SecondFactorHolder, *, code_model: CodeModel = RecoveryCode
) -> list[str]:
    for old in session.scalars(select(code_model).where(code_model.person_id == person.id)):
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5).upper()  # 40 bits each: 10 hex characters, shown as two groups of five
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(code_model(id=uuid.uuid4(), person_id=person.id, code_hash=_hash_code(raw)))
    return codes


def use_recovery_code(
    session: Session,
    person: SecondFactorHolder,
    code: str,
    now: float,
    *,
    code_model: CodeModel = RecoveryCode,
) -> bool:
    """True once per code; the code is burnt."""
    found = cast(
        "RecoveryCode | StaffRecoveryCode | None",
        session.scalar(
            select(code_model).where(
                code_model.person_id == person.id,
                code_model.code_hash == _hash_code(code),
                code_model.used_at.is_(None),
            )
        ),
    )
    if found is None:
        return False
    found.used_at = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return True
