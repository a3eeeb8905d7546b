"""Server-side sessions in Redis, bound to one tenant, with inactivity and absolute timeouts per role.

The cookie carries only a random id; Redis keeps the session under
``bippop:t:<tenant id>:session:<sha256 of the id>``, so a session id from one
tenant finds nothing on another tenant's host, and reading Redis does not give
away usable ids. A sign-in always starts a new session (no fixation). When a
person holds several roles, the strictest timeouts apply.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping

from redis.asyncio import Redis

# role → (inactivity, absolute) in seconds. Staff handle many people's data: short; residents, often
# elderly and slow to type, get more time before the warning (WCAG 2.2.1 lets them extend it).
DEFAULT_TIMEOUTS: dict[str, tuple[int, int]] = {
    "tenant_admin": (15 * 60, 8 * 3600),
    "coordinator": (15 * 60, 8 * 3600),
    "partner": (30 * 60, 10 * 3600),
    "volunteer": (30 * 60, 12 * 3600),
    "relative": (60 * 60, 7 * 24 * 3600),
    "beneficiary": (60 * 60, 7 * 24 * 3600),
}
WARNING_SECONDS = 120  # the page warns this long before the inactivity timeout (at least 20 s: WCAG 2.2.1)


@dataclasses.dataclass(frozen=True)
class Session:
    id: str
    tenant_id: uuid.UUID
    person_id: uuid.UUID
    roles: tuple[str, ...]
    created_at: float
    last_seen_at: float
    idle_timeout: int
    absolute_timeout: int
    # "mfa_enrollment": signed in, but must set up the second factor before anything else.
    flags: tuple[str, ...] = ()

    def expires_at(self) -> float:
        """When it ends if nothing happens: the earlier of the two timeouts."""
        return min(self.last_seen_at + self.idle_timeout, self.created_at + self.absolute_timeout)

    def warn_at(self) -> float:
        return self.expires_at() - WARNING_SECONDS

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("id")
        data["tenant_id"], data["person_id"] = str(self.tenant_id), str(self.person_id)
        return json.dumps(data)

    @classmethod
    def from_json(cls, session_id: str, raw: str | bytes) -> Session:
        data = json.loads(raw)
        return cls(
            id=session_id,
            tenant_id=uuid.UUID(data["tenant_id"]),
            person_id=uuid.UUID(data["person_id"]),
            roles=tuple(data["roles"]),
            created_at=float(data["created_at"]),
            last_seen_at=float(data["last_seen_at"]),
            idle_timeout=int(data["idle_timeout"]),
            absolute_timeout=int(data["absolute_timeout"]),
            flags=tuple(data.get("flags", ())),
        )


def timeouts_for(
    roles: Iterable[str], table: Mapping[str, tuple[int, int]] = DEFAULT_TIMEOUTS
) -> tuple[int, int]:
    """The strictest (inactivity, absolute) pair among the person's roles."""
    pairs = [table[role] for role in roles if role in table] or [table["beneficiary"]]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)


def _key(tenant_id: uuid.UUID, session_id: str) -> str:
    digest = hashlib.sha256(session_id.encode()).hexdigest()
    return f"bippop:t:{tenant_id}:session:{digest}"


def _person_key(tenant_id: uuid.UUID, person_id: uuid.UUID) -> str:
    return f"bippop:t:{tenant_id}:person-sessions:{person_id}"


class SessionStore:
    def __init__(
        self,
        redis: Redis,
        *,
        timeouts: Mapping[str, tuple[int, int]] = DEFAULT_TIMEOUTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.timeouts = timeouts
        self.clock = clock

    async def start(
        self,
        tenant_id: uuid.UUID,
        person_id: uuid.UUID,
        roles: Iterable[str],
        *,
        replacing: str | None = None,
        flags: Iterable[str] = (),
    ) -> Session:
        """A new session (a new id, always); the one it replaces, if any, is destroyed."""
        if replacing:
            await self.end(tenant_id, replacing)
        now = self.clock()
        idle, absolute = timeouts_for(roles, self.timeouts)
        session = Session(
            secrets.token_urlsafe(32),
            tenant_id,
            person_id,
            tuple(roles),
            now,
            now,
            idle,
            absolute,
            tuple(flags),
        )
        await self._save(session)
        await self.redis.sadd(
            _person_key(tenant_id, person_id), hashlib.sha256(session.id.encode()).hexdigest()
        )
        await self.redis.expire(_person_key(tenant_id, person_id), absolute)
        return session

    async def get(
        self, tenant_id: uuid.UUID, session_id: str | None, *, touch: bool = True
    ) -> Session | None:
        """The live session for this id on this tenant, or None (unknown, other tenant's, or expired)."""
        if not session_id or len(session_id) > 100:
            return None
        raw = await self.redis.get(_key(tenant_id, session_id))
        if raw is None:
            return None
        session = Session.from_json(session_id, raw)
        now = self.clock()
        if session.tenant_id != tenant_id or now >= session.expires_at():
            await self.end(tenant_id, session_id)
            return None
        if touch:
            session = dataclasses.replace(session, last_seen_at=now)
            await self._save(session)
        return session

    async def clear_flag(self, session: Session, flag: str) -> Session:
        updated = dataclasses.replace(session, flags=tuple(f for f in session.flags if f != flag))
        await self._save(updated)
        return updated

    async def end(self, tenant_id: uuid.UUID, session_id: str) -> None:
        await self.redis.delete(_key(tenant_id, session_id))

    async def end_all_for(self, tenant_id: uuid.UUID, person_id: uuid.UUID) -> int:
        """Sign a person out everywhere (password changed, role removed, account closed)."""
        key = _person_key(tenant_id, person_id)
        digests = await self.redis.smembers(key)
        keys = [f"bippop:t:{tenant_id}:session:{d.decode() if isinstance(d, bytes) else d}" for d in digests]
        ended = int(await self.redis.delete(*keys)) if keys else 0
        await self.redis.delete(key)
        return ended

    async def _save(self, session: Session) -> None:
        ttl = max(1, int(session.expires_at() - self.clock()) + 1)
        await self.redis.set(_key(session.tenant_id, session.id), session.to_json(), ex=ttl)
