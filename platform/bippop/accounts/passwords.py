"""Passwords: argon2id hashes, and a strength policy from a maintained estimator (zxcvbn).

At least 8 characters, and not guessable: zxcvbn scores it against its lists of
common passwords, names and words, keyboard patterns, dates and what the person
or their commune is called; a score under 2 ("too guessable") is refused. The
reason is given in the person's language, next to the field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import secrets
import unicodedata
from collections.abc import Iterable

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from bippop.web.i18n import _

MIN_LENGTH = 8
MAX_LENGTH = 256  # bounds the cost of hashing what a form may send
MIN_SCORE = 2

_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters


@dataclasses.dataclass(frozen=True)
class PasswordProblem:
    field: str
    message: str


def password_problems(password: str, related: Iterable[str] = ()) -> list[PasswordProblem]:
    """What is wrong with ``password`` (empty when it is acceptable). ``related``: the person's name,
    e-mail, commune… which make a password easy to guess for someone who knows them."""
    if len(password) < MIN_LENGTH:
        return [PasswordProblem("password", _("The password must have at least 8 characters."))]
    if len(password) > MAX_LENGTH:
        return [PasswordProblem("password", _("The password must have at most 256 characters."))]
    hints = [part for item in related for part in _words(item)]
    result = zxcvbn(password[:100], user_inputs=[*hints, "bippop", "bip pop"])
    if result["score"] < MIN_SCORE:
        return [
            PasswordProblem(
                "password",
                _(
                    "This password is too common or too easy to guess. "
                    "Try a short sentence of three or four unrelated words."
                ),
            )
        ]
    return []


def _words(text: str) -> list[str]:
    """The text, its words, and the same without accents (people type « compiegne »)."""
    lowered = text.lower()
    plain = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode()
    words = {lowered, plain}
    for variant in (lowered, plain):
        words.update(p for p in variant.replace("@", " ").replace(".", " ").replace("-", " ").split() if p)
    return sorted(words)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-time check; False for a wrong password, an empty or a malformed hash."""
    if not stored_hash:
        # Same work as a real check, so that timing does not reveal unknown accounts.
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with older parameters: re-hash it at the next sign-in."""
    return _hasher.check_needs_rehash(stored_hash)


# argon2 takes a core for a fraction of a second: on the event loop, four anonymous sign-ins at once
# stalled every page for seconds. Pages hash and check in worker threads instead (argon2-cffi releases
# the GIL), at most this many at once, so a burst of sign-ins queues here without taking every thread.
_ARGON2_AT_ONCE = anyio.CapacityLimiter(2)


async def hash_password_off_loop(password: str) -> str:
    """``hash_password`` in a worker thread, for pages and other async code."""
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_ARGON2_AT_ONCE)


async def verify_password_off_loop(stored_hash: str | None, password: str) -> bool:
    """``verify_password`` in a worker thread, for pages and other async code."""
    return await anyio.to_thread.run_sync(verify_password, stored_hash, password, limiter=_ARGON2_AT_ONCE)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
