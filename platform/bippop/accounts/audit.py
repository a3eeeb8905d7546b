"""The audit log of each tenant: sign-ins, role changes, every read and change of a beneficiary's
record, exports — who, when, what, from where. Kept ``BIPPOP_AUDIT_RETENTION_DAYS`` (default a year).

Events live in the tenant's own schema, written in the same transaction as what they record, so an
action that rolls back leaves no event and an event cannot be lost without its action.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop import clock
from bippop.accounts.models import AuditEvent
from bippop.config import Settings
from bippop.observability import current_request
from bippop.tenants.retention import register_retention_purge


def record(
    session: Session | AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the session's (tenant-scoped) transaction; ``details`` holds ids and labels,
    never the personal data itself."""
    request = current_request()
    event = AuditEvent(
        id=uuid.uuid4(),
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        ip_address=request.address if request else None,
        request_id=request.request_id if request else None,
        details=details or {},
    )
    session.add(event)
    return event


def search(
    session: Session,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Newest first, filtered the way a tenant administrator browses the log."""
    query = select(AuditEvent).order_by(AuditEvent.occurred_at.desc()).limit(min(limit, 1000))
    if action:
        query = query.where(AuditEvent.action == action)
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    if subject_type:
        query = query.where(AuditEvent.subject_type == subject_type)
    if subject_id:
        query = query.where(AuditEvent.subject_id == subject_id)
    if since:
        query = query.where(AuditEvent.occurred_at >= since)
    if until:
        query = query.where(AuditEvent.occurred_at < until)
    return session.scalars(query).all()


def purge_older_than(session: Session, days: int) -> int:
    """Drop the events past the retention period; returns how many."""
    cutoff = clock.now() - datetime.timedelta(days=days)
    result = session.execute(delete(AuditEvent).where(AuditEvent.occurred_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_past_retention(session: Session, settings: Settings) -> int:
    """The audit log's retention purge, run daily in every tenant by ``tenants.jobs``."""
    return purge_older_than(session, settings.audit_retention_days)


register_retention_purge("audit_events", purge_past_retention)
