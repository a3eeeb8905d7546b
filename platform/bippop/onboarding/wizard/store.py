"""A sign-up draft and the secret that finds it again: a random 256-bit secret lives in the browser's
cookie (HttpOnly, SameSite=Lax, 30 days) and in the mailed resume link; only its SHA-256 is stored.
A draft expires 30 days after its last change (a daily job purges it) and its answers are bounded."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.steps import PREFIX, steps_done

COOKIE = "bippop_signup"
COOKIE_PATH = PREFIX
DRAFT_LIFETIME = datetime.timedelta(days=30)
MAX_ANSWERS_BYTES = 16_000
SECRET_MAX_LENGTH = 100


class AnswersTooLarge(ValueError):
    """What a form would add goes past the draft's size cap."""


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


async def find_signup(session: AsyncSession, secret: str | None, *, lock: bool = False) -> Signup | None:
    """The sign-up this secret opens (not expired while still a draft), else None."""
    if not secret or len(secret) > SECRET_MAX_LENGTH:
        return None
    wanted = secret_hash(secret)
    query = select(Signup).where(Signup.secret_hash == wanted)
    if lock:
        query = query.with_for_update()
    signup = await session.scalar(query)
    if signup is None or not hmac.compare_digest(signup.secret_hash, wanted):
        return None
    if signup.status == "draft" and signup.expires_at <= clock.now():
        return None
    return signup


def start_signup(session: AsyncSession, locale: str) -> tuple[Signup, str]:
    """A new, empty draft (added to the session) and its secret in clear, for the cookie."""
    secret = new_secret()
    signup = Signup(
        id=uuid.uuid4(),
        secret_hash=secret_hash(secret),
        status="draft",
        answers={"locale": locale},
        step_done=0,
        expires_at=clock.now() + DRAFT_LIFETIME,
    )
    session.add(signup)
    return signup, secret


def save_answer(signup: Signup, key: str, value: Any, *, step: int | None = None) -> None:
    """Keep ``value`` under ``key`` (a new dict, so the JSONB column is written), push the expiry back
    and, given ``step`` (the step this answer completes), record how many steps are now done;
    AnswersTooLarge past the cap."""
    answers = {**(signup.answers or {}), key: value}
    if len(json.dumps(answers, ensure_ascii=False).encode()) > MAX_ANSWERS_BYTES:
        raise AnswersTooLarge(key)
    signup.answers = answers
    touch(signup)
    if step is not None:
        signup.step_done = steps_done(signup)


def touch(signup: Signup) -> None:
    signup.expires_at = clock.now() + DRAFT_LIFETIME


def admin_person_id(signup_id: uuid.UUID) -> uuid.UUID:
    """The id the sign-up's administrator gets in the new tenant: derived, so that a retried job finds
    the person it already created instead of making a second one."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"bippop:signup:{signup_id}")
