"""Use cases of a person on their own account: how they want news, two-step sign-in and its recovery
codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit, mfa
from bippop.accounts.models import Person
from bippop.accounts.services.outcome import AccountOutcome
from bippop.web.forms import form_problems
from bippop.web.i18n import _

CHANNELS = ("email", "sms", "voice", "coordinator")


def _is_phone_number(phone: str) -> bool:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return (len(digits) == 10 and digits.startswith("0")) or (
        phone.startswith("+") and 10 <= len(digits) <= 15
    )


def set_preferences(db_session: AsyncSession, person: Person, data: Mapping[str, Any]) -> AccountOutcome:
    """How the person wants news: e-mail, text message, voice call, or a coordinator phones them."""
    channel = str(data.get("channel", ""))
    phone = " ".join(str(data.get("phone", "")).split())
    errors: dict[str, str] = {}
    if channel not in CHANNELS:
        errors["channel"] = _("Choose how you would like to hear from us.")
    if phone and not _is_phone_number(phone):
        errors["phone"] = _("Enter a phone number like 06 12 34 56 78.")
    elif channel in ("sms", "voice", "coordinator") and not phone:
        errors["phone"] = _("Enter your phone number: it is how we will reach you.")
    errors.update(form_problems(data))
    if errors:
        return AccountOutcome(done=False, errors=errors, subject={"channel": channel, "phone": phone})
    person.phone = phone or None
    person.channels = [channel] + (["email"] if channel != "email" and person.email else [])
    audit.record(
        db_session,
        "preferences_changed",
        actor_id=person.id,
        subject_type="person",
        subject_id=person.id,
        details={"channel": channel},
    )
    return AccountOutcome()


async def turn_on_two_step(
    db_session: AsyncSession, person: Person, code: str, secret_key: str, now: float
) -> AccountOutcome:
    """The first code from the app confirms the set-up; ``subject`` holds the new recovery codes."""
    try:
        codes = await db_session.run_sync(lambda s: mfa.confirm_enrollment(s, person, code, secret_key, now))
    except mfa.MfaError:
        return AccountOutcome.refused(
            {"code": _("This code is not right. Enter the 6 digits your app shows now for this account.")}
        )
    audit.record(db_session, "mfa_enabled", actor_id=person.id, subject_type="person", subject_id=person.id)
    return AccountOutcome(subject=codes)


async def replace_recovery_codes(db_session: AsyncSession, person: Person) -> list[str]:
    codes: list[str] = await db_session.run_sync(lambda s: mfa.replace_recovery_codes(s, person))
    audit.record(
        db_session,
        "mfa_recovery_codes_replaced",
        actor_id=person.id,
        subject_type="person",
        subject_id=person.id,
    )
    return codes
