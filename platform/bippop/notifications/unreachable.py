"""When a message to a person can never go out (no channel they can be reached on, a text or a call
refused for good, too many attempts): what happens instead.

Nobody is left untold, but how to reach someone without a message is the business of the domain above
(``aid``: a coordinator phones them). notifications imports nothing of it: that domain registers its
``Fallback`` here (``aid/notices.py``, imported by the aid pages and by ``aid/jobs.py`` which the worker
loads), and the dedupe of a notification asks it too (a retried job wrote a task the first time).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Protocol

import structlog
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class Unreachable:
    """A person a message about ``purpose`` cannot reach; ``about_id`` is what the news was about (a
    help request) when known; ``dedupe_key``: once per key."""

    person_id: uuid.UUID
    purpose: str
    about_id: uuid.UUID | None = None
    dedupe_key: str | None = None


class Fallback(Protocol):
    def reach(self, session: Session, who: Unreachable) -> None:
        """Reach the person another way, in the caller's transaction."""

    def planned(self, session: Session, dedupe_key: str) -> bool:
        """Whether the fallback was already planned under ``dedupe_key``."""


_fallback: Fallback | None = None


def register(fallback: Fallback | None) -> Fallback | None:
    """The one fallback of the process (registering again replaces it); returns the one it replaced, for
    a test to put back."""
    global _fallback
    previous, _fallback = _fallback, fallback
    return previous


def reach_otherwise(session: Session, who: Unreachable) -> None:
    if _fallback is None:
        # A process that loaded no domain able to help: say so loudly rather than drop it in silence.
        log.error("unreachable_without_fallback", purpose=who.purpose)
        return
    _fallback.reach(session, who)


def planned(session: Session, dedupe_key: str) -> bool:
    return _fallback is not None and _fallback.planned(session, dedupe_key)
