"""Server-side sessions in Redis, bound to one tenant, with inactivity and absolute timeouts per role.

The cookie carries only a random id; Redis keeps the session under
``bippop:t:<tenant id>:session:<sha256 of the id>``, so a session id from one
tenant finds nothing on another tenant's host, and reading Redis does not give
away usable ids. A sign-in always starts a new session (no fixation). When a
person holds several roles, the strictest timeouts apply.

Ending a session is final. Each session is a Redis hash; reading and touching it is one Lua script
that writes only to a hash that still exists, so a request in flight cannot bring a signed-out
session back. Each person also has a generation (``bippop:t:<tenant>:person-gen:<person id>``): a
session is live only while it carries the person's current generation, and signing out everywhere
(password reset, role change, staff account disabled) replaces it in one atomic step, which no write
in flight can undo. The generation is a fresh random value, not a counter: one lost from Redis and made
again never matches an old session, and a session whose generation is missing is not live.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping

from redis.asyncio import Redis

from bippop.clock import seconds as clock_seconds

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
# The generation and the person's index outlive each of the person's sessions by this much.
KEEP_AFTER_SECONDS = 3600

# The scripts name some keys after a field of the session (its person) or a member of the person's
# index, which standalone Redis allows (Redis Cluster would not: this platform uses one Redis).

# KEYS: session, generation, person's index. ARGV: a new generation (used if the person has none),
# session TTL, TTL the generation and index keep at least, session digest, session key prefix, the
# generation the sign-in saw before it read the person ("*": no check, "-": none), then the session's
# fields and values. Returns the generation the session carries, or nil when the person was signed out
# everywhere since the sign-in saw the generation (it read roles or a password that may be stale).
_START = """
local current = redis.call('GET', KEYS[2])
local seen = ARGV[6]
if seen ~= '*' and ((seen == '-' and current) or (seen ~= '-' and current ~= seen)) then
  return false
end
if not current then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
  current = ARGV[1]
elseif redis.call('TTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
redis.call('HSET', KEYS[1], 'generation', current, unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[1], ARGV[2])
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('EXISTS', ARGV[5] .. digest) == 0 then redis.call('SREM', KEYS[3], digest) end
end
redis.call('SADD', KEYS[3], ARGV[4])
if redis.call('TTL', KEYS[3]) < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
return current
"""

# KEYS: session. ARGV: now, "1" to count as activity, generation key prefix. Returns the session's
# fields, or nil when it is not live (and then deletes it). It writes only to a session that exists
# and carries its person's current generation: an HSET alone would make the session again.
_READ = """
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then
  redis.call('DEL', KEYS[1])
  return false
end
local f = redis.call('HMGET', KEYS[1], 'generation', 'created_at', 'last_seen_at', 'idle_timeout',
                      'absolute_timeout', 'person_id')
for i = 1, 6 do
  if not f[i] then
    redis.call('DEL', KEYS[1])
    return false
  end
end
local now = tonumber(ARGV[1])
local absolute_end = tonumber(f[2]) + tonumber(f[5])
if f[1] ~= redis.call('GET', ARGV[3] .. f[6])
    or now >= math.min(tonumber(f[3]) + tonumber(f[4]), absolute_end) then
  redis.call('DEL', KEYS[1])
  return false
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.floor(math.min(now + tonumber(f[4]), absolute_end) - now) + 1)
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: session. ARGV: index key prefix, session digest.
_END = """
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  local person = redis.call('HGET', KEYS[1], 'person_id')
  if person then redis.call('SREM', ARGV[1] .. person, ARGV[2]) end
end
return redis.call('DEL', KEYS[1])
"""

# KEYS: generation, person's index. ARGV: new generation, session key prefix, TTL of a generation made
# here. Returns how many sessions it deleted. Replacing the generation is what ends them; deleting them
# is tidying up. A person with no generation gets one, so a sign-in in flight that saw none is refused.
_END_ALL = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SET', KEYS[1], ARGV[1], 'XX', 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
local ended = 0
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  ended = ended + redis.call('DEL', ARGV[2] .. digest)
end
redis.call('DEL', KEYS[2])
return ended
"""

FLAG_PREFIX = "flag:"
# ``start`` without a generation to check (a session that no sign-in of a person starts, e.g. tests).
ANY_GENERATION = object()


class SignedOutMeanwhile(Exception):
    """The person was signed out everywhere while their sign-in was under way: sign in again."""


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
    # The person's generation when the session started; it is live only while they are equal.
    generation: str = ""

    @property
    def digest(self) -> str:
        """What Redis knows the session by (never the id itself)."""
        return hashlib.sha256(self.id.encode()).hexdigest()

    def expires_at(self) -> float:
        """When it ends if nothing happens: the earlier of the two timeouts."""
        return min(self.last_seen_at + self.idle_timeout, self.created_at + self.absolute_timeout)

    def warn_at(self) -> float:
        return self.expires_at() - WARNING_SECONDS

    def fields(self) -> list[str]:
        """Field, value, field, value… for the Redis hash (the generation is Redis's to fill in)."""
        values = {
            "tenant_id": str(self.tenant_id),
            "person_id": str(self.person_id),
            "roles": json.dumps(list(self.roles)),
            "created_at": repr(self.created_at),
            "last_seen_at": repr(self.last_seen_at),
            "idle_timeout": str(self.idle_timeout),
            "absolute_timeout": str(self.absolute_timeout),
            **{FLAG_PREFIX + flag: "1" for flag in self.flags},
        }
        return [item for pair in values.items() for item in pair]

    @classmethod
    def from_fields(cls, session_id: str, flat: list[bytes]) -> Session:
        data = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        return cls(
            id=session_id,
            tenant_id=uuid.UUID(data["tenant_id"]),
            person_id=uuid.UUID(data["person_id"]),
            roles=tuple(json.loads(data["roles"])),
            created_at=float(data["created_at"]),
            last_seen_at=float(data["last_seen_at"]),
            idle_timeout=int(data["idle_timeout"]),
            absolute_timeout=int(data["absolute_timeout"]),
            flags=tuple(sorted(k.removeprefix(FLAG_PREFIX) for k in data if k.startswith(FLAG_PREFIX))),
            generation=data["generation"],
        )


def timeouts_for(
    roles: Iterable[str], table: Mapping[str, tuple[int, int]] = DEFAULT_TIMEOUTS
) -> tuple[int, int]:
    """The strictest (inactivity, absolute) pair among the person's roles."""
    pairs = [table[role] for role in roles if role in table] or [table["beneficiary"]]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)


def _key(tenant_id: uuid.UUID, session_id: str) -> str:
    return _session_prefix(tenant_id) + hashlib.sha256(session_id.encode()).hexdigest()


def _session_prefix(tenant_id: uuid.UUID) -> str:
    return f"bippop:t:{tenant_id}:session:"


def _person_prefix(tenant_id: uuid.UUID) -> str:
    return f"bippop:t:{tenant_id}:person-sessions:"


def _generation_prefix(tenant_id: uuid.UUID) -> str:
    return f"bippop:t:{tenant_id}:person-gen:"


class SessionStore:
    def __init__(
        self,
        redis: Redis,
        *,
        timeouts: Mapping[str, tuple[int, int]] = DEFAULT_TIMEOUTS,
        clock: Callable[[], float] = clock_seconds,
    ) -> None:
        self.redis = redis
        self.timeouts = timeouts
        self.clock = clock
        self._start = redis.register_script(_START)
        self._read = redis.register_script(_READ)
        self._end = redis.register_script(_END)
        self._end_all = redis.register_script(_END_ALL)

    async def start(
        self,
        tenant_id: uuid.UUID,
        person_id: uuid.UUID,
        roles: Iterable[str],
        *,
        replacing: str | None = None,
        flags: Iterable[str] = (),
        seen_generation: str | object | None = ANY_GENERATION,
    ) -> Session:
        """A new session (a new id, always); the one it replaces, if any, is destroyed.

        ``seen_generation`` is what ``generation()`` answered before the sign-in read the person: if they
        were signed out everywhere since (a role removed, a password reset), ``SignedOutMeanwhile`` is
        raised and no session starts, since what the sign-in read may be stale."""
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
        generation = await self._start(
            keys=[
                _key(tenant_id, session.id),
                _generation_prefix(tenant_id) + str(person_id),
                _person_prefix(tenant_id) + str(person_id),
            ],
            args=[
                secrets.token_hex(16),
                max(1, int(session.expires_at() - now) + 1),
                absolute + KEEP_AFTER_SECONDS,
                session.digest,
                _session_prefix(tenant_id),
                "*" if seen_generation is ANY_GENERATION else str(seen_generation or "-"),
                *session.fields(),
            ],
        )
        if not generation:
            raise SignedOutMeanwhile
        return dataclasses.replace(session, generation=generation.decode())

    async def generation(self, tenant_id: uuid.UUID, person_id: uuid.UUID) -> str | None:
        """The person's current generation (None when they have none): read it before reading the person
        for a sign-in, and give it to ``start``."""
        value = await self.redis.get(_generation_prefix(tenant_id) + str(person_id))
        return value.decode() if isinstance(value, bytes) else value

    async def get(
        self, tenant_id: uuid.UUID, session_id: str | None, *, touch: bool = True
    ) -> Session | None:
        """The live session for this id on this tenant, or None (unknown, other tenant's, expired, ended)."""
        if not session_id or len(session_id) > 100:
            return None
        flat = await self._read(
            keys=[_key(tenant_id, session_id)],
            args=[repr(self.clock()), "1" if touch else "0", _generation_prefix(tenant_id)],
        )
        if not flat:
            return None
        session = Session.from_fields(session_id, flat)
        if session.tenant_id != tenant_id:
            await self.end(tenant_id, session_id)
            return None
        return session

    async def clear_flag(self, session: Session, flag: str) -> Session:
        # Deleting one field never makes the session again, as rewriting the whole session could.
        await self.redis.hdel(_key(session.tenant_id, session.id), FLAG_PREFIX + flag)
        return dataclasses.replace(session, flags=tuple(f for f in session.flags if f != flag))

    async def end(self, tenant_id: uuid.UUID, session_id: str) -> None:
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        await self._end(keys=[_key(tenant_id, session_id)], args=[_person_prefix(tenant_id), digest])

    async def end_all_for(self, tenant_id: uuid.UUID, person_id: uuid.UUID) -> int:
        """Sign a person out everywhere (password changed, role removed, account closed): none of the
        sessions they have now is live after this call, whatever requests in flight write."""
        ended = await self._end_all(
            keys=[_generation_prefix(tenant_id) + str(person_id), _person_prefix(tenant_id) + str(person_id)],
            args=[
                secrets.token_hex(16),
                _session_prefix(tenant_id),
                max(absolute for _, absolute in self.timeouts.values()) + KEEP_AFTER_SECONDS,
            ],
        )
        return int(ended)
