"""What a person was typing when their session ran out: kept for the next sign-in, then put back.

A form sent after the session expired is not lost: its fields (never a password, the CSRF
token or a file) wait in Redis for half an hour under a random key, the person signs in again,
and the form's page fills itself back from the draft, once. Keys carry the tenant, like every
cache key.

Anyone can send a form without a session, so what is kept is bounded: a form of more than
``DRAFT_MAX_BYTES`` is not even read, and at most ``DRAFTS_PER_ADDRESS`` drafts per address and
``DRAFTS_PER_TENANT`` per tenant (``DRAFTS_IN_ALL`` over every tenant) are kept per half hour,
counted atomically in Redis by the same script that stores the draft. Beyond that the form is
simply not kept, and the sign-in page says so.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid
from typing import Any

from litestar import Request
from redis.asyncio import Redis

from bippop.web.addresses import address_group, client_address
from bippop.web.scope import scope_id

DRAFT_SECONDS = 30 * 60
DRAFT_PARAM = "brouillon"
# The draft is given back only to the browser that sent the form (a shared computer at the library:
# the next person signing in does not get it).
DRAFT_COOKIE = "bippop_draft"
_SKIPPED = ("_csrf_token",)

# A visit report of 4,000 characters fits; a file never does.
DRAFT_MAX_BYTES = 8 * 1024
DRAFTS_PER_ADDRESS = 5
DRAFTS_PER_TENANT = 100
DRAFTS_IN_ALL = 1000

# KEYS: the draft, the address's counter, the tenant's, everyone's. ARGV: the draft, its lifetime,
# then the three caps. Counters start with the first draft of a half hour and expire with it.
_KEEP = """
for i = 3, 4 do
  if tonumber(redis.call('get', KEYS[i]) or '0') >= tonumber(ARGV[i + 1]) then return 0 end
end
if redis.call('incr', KEYS[2]) == 1 then redis.call('expire', KEYS[2], ARGV[2]) end
if tonumber(redis.call('get', KEYS[2])) > tonumber(ARGV[3]) then return 0 end
for i = 3, 4 do
  if redis.call('incr', KEYS[i]) == 1 then redis.call('expire', KEYS[i], ARGV[2]) end
end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Draft:
    """What became of a form sent without a session: kept (its id and the browser's secret), lost
    (too big, or too many drafts lately), or nothing to keep."""

    draft_id: str | None = None
    owner: str | None = None
    lost: bool = False


NOTHING_TO_KEEP = Draft()
LOST = Draft(lost=True)


def _key(scope: uuid.UUID, draft_id: str) -> str:
    return f"bippop:t:{scope}:draft:{draft_id}"


def cap_keys(scope: uuid.UUID, address: str | None) -> tuple[str, str, str]:
    """The counters of kept drafts: this address's on this tenant, the tenant's, everyone's."""
    return (
        f"bippop:t:{scope}:draft-cap:address:{address_group(address)}",
        f"bippop:t:{scope}:draft-cap",
        "bippop:draft-cap",
    )


def keep_fields(form: Any) -> dict[str, str | list[str]]:
    """The form's text fields (a field sent several times, like checkboxes, as a list)."""
    kept: dict[str, str | list[str]] = {}
    for name in dict.fromkeys(form.keys()):
        if name in _SKIPPED or "password" in name:
            continue
        values = [
            v for v in (form.getall(name) if hasattr(form, "getall") else [form[name]]) if isinstance(v, str)
        ]
        if values:
            kept[name] = values if len(values) > 1 else values[0]
    return kept


def _declared_size(request: Request[Any, Any, Any]) -> int | None:
    """The body's announced length (the server holds the client to it): 0 without a body, None when
    a body comes unannounced (chunked) or the length is garbled."""
    if "content-length" not in request.headers:
        return None if "transfer-encoding" in request.headers else 0
    try:
        return int(request.headers["content-length"])
    except ValueError:
        return None


async def keep_draft(request: Request[Any, Any, Any], scope: uuid.UUID, path: str) -> Draft:
    """Keep the text fields of the form this request sends, for ``path``, when it is small enough and
    the caps allow; the form is read only then."""
    size = _declared_size(request)
    if size is None or size > DRAFT_MAX_BYTES:
        return LOST
    if size == 0:
        return NOTHING_TO_KEEP
    fields = keep_fields(await request.form())
    if not fields:
        return NOTHING_TO_KEEP
    draft_id, owner = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    value = json.dumps({"path": path, "fields": fields, "owner": owner}, ensure_ascii=False)
    if len(value.encode()) > DRAFT_MAX_BYTES + 512:
        return LOST
    redis: Redis = request.app.state.redis
    kept = await redis.eval(
        _KEEP,
        4,
        _key(scope, draft_id),
        *cap_keys(scope, client_address(request)),
        value,
        DRAFT_SECONDS,
        DRAFTS_PER_ADDRESS,
        DRAFTS_PER_TENANT,
        DRAFTS_IN_ALL,
    )
    return Draft(draft_id, owner) if kept == 1 else LOST


async def take_draft(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The fields kept for this page (named by ``?brouillon=``), once; empty when there is none."""
    draft_id = request.query_params.get(DRAFT_PARAM)
    scope = scope_id(request)
    if not draft_id or scope is None or len(draft_id) > 64:
        return {}
    redis: Redis = request.app.state.redis
    raw = await redis.get(_key(scope, draft_id))
    if raw is None:
        return {}
    data = json.loads(raw)
    owner = request.cookies.get(DRAFT_COOKIE)
    if (
        data.get("path") != request.url.path
        or not owner
        or not secrets.compare_digest(owner, data.get("owner", ""))
    ):
        return {}
    await redis.delete(_key(scope, draft_id))
    fields: dict[str, Any] = data.get("fields", {})
    return fields
