"""The platform audit log: every staff action in the console, one row each (ids and codes only).

``record`` adds the row to the caller's session, so the action and its record commit together (or
neither does). Works with a sync or an async session.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop.coop.models import AuditEntry


def record(
    session: Session | AsyncSession,
    action: str,
    *,
    staff_id: uuid.UUID | None,
    tenant_id: uuid.UUID | None = None,
    target: str | None = None,
    **details: Any,
) -> AuditEntry:
    """Log ``action`` (``tenant.suspend``, ``plan.create``, …) by ``staff_id``; ``details`` holds
    codes and amounts, never a name, an address or a message someone wrote."""
    entry = AuditEntry(action=action, staff_id=staff_id, tenant_id=tenant_id, target=target, details=details)
    session.add(entry)
    return entry
