"""The session scope of a request's site: the tenant's id on a tenant's host, ``COOP_SCOPE`` on the
co-op console's. Sessions, drafts and rate limits are keyed by it; the web kit needs it to keep a
draft before sign-in, so it lives here, below the accounts."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request
from litestar.types import Scope

# Staff of the co-op are not in any tenant: their sessions use this scope (no tenant has the nil id).
COOP_SCOPE = uuid.UUID(int=0)


def scope_id(request: Request[Any, Any, Any] | Scope) -> uuid.UUID | None:
    """The session scope of the request's site: the tenant's id, COOP_SCOPE on the co-op host."""
    state = request.scope["state"] if isinstance(request, Request) else request["state"]
    site = state.get("site")
    if site is None:
        return None
    if site.tenant is not None:
        return site.tenant.id
    return COOP_SCOPE if site.kind == "coop" else None
