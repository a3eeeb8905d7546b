"""What a person was typing when their session ran out: kept for the next sign-in, then put back.

A form sent after the session expired is not lost: its fields (never a password or the CSRF
token) wait in Redis for half an hour under a random key, the person signs in again, and the
form's page fills itself back from the draft, once. Keys carry the tenant, like every cache key.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from litestar import Request
from redis.asyncio import Redis

DRAFT_SECONDS = 30 * 60
DRAFT_PARAM = "brouillon"
# The draft is given back only to the browser that sent the form (a shared computer at the library:
# the next person signing in does not get it).
DRAFT_COOKIE = "bippop_draft"
_SKIPPED = ("_csrf_token",)


def _key(scope: uuid.UUID, draft_id: str) -> str:
    return f"bippop:t:{scope}:draft:{draft_id}"


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


async def save_draft(
    redis: Redis, scope: uuid.UUID, path: str, fields: dict[str, str | list[str]]
) -> tuple[str, str]:
    """Keep the fields; returns the draft's id (for the address) and its owner secret (for a cookie)."""
    draft_id, owner = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    value = json.dumps({"path": path, "fields": fields, "owner": owner})
    await redis.set(_key(scope, draft_id), value, ex=DRAFT_SECONDS)
    return draft_id, owner


async def take_draft(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The fields kept for this page (named by ``?brouillon=``), once; empty when there is none."""
    from bippop.accounts.auth import scope_id

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
