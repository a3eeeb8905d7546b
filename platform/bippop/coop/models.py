"""Platform tables of the co-op console (migration p0010): its audit log, support notes on a tenant,
one-time enrolment links for new staff, and the monthly usage counts of each tenant."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import PLATFORM_SCHEMA, PlatformBase, PlatformRecord

STAFF_FK = f"{PLATFORM_SCHEMA}.staff.id"


class AuditEntry(PlatformBase):
    """One staff action. Append-only: the application role may insert and read, nothing else."""

    __tablename__ = "audit_log"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(STAFF_FK, ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(60))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    target: Mapped[str | None] = mapped_column(String(200), default=None)  # an id or a code
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class SupportNote(PlatformRecord):
    __tablename__ = "support_notes"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="CASCADE")
    )
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(STAFF_FK, ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text)


class StaffEnrolment(PlatformBase):
    """A one-time link to choose a password and set up the second factor (its SHA-256 only)."""

    __tablename__ = "staff_enrolments"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(STAFF_FK, ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(STAFF_FK, ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantUsage(PlatformBase):
    """Counts of one tenant in one month (``month`` is its first day), from the nightly usage job."""

    __tablename__ = "tenant_usage"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[datetime.date] = mapped_column(primary_key=True)
    people_helped: Mapped[int] = mapped_column(default=0)
    volunteers: Mapped[int] = mapped_column(default=0)
    requests: Mapped[int] = mapped_column(default=0)
    appointments: Mapped[int] = mapped_column(default=0)
    hours: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal(0))
    computed_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


__all__ = ["AuditEntry", "StaffEnrolment", "SupportNote", "TenantUsage"]
