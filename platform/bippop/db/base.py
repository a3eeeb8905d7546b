"""Declarative bases: one for the ``platform`` schema, one for every tenant schema.

The two never share metadata: tenant tables carry no schema (the transaction's
``search_path`` picks the tenant) and must never reference ``platform``.
"""

from __future__ import annotations

import uuid

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import AuditColumns
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PLATFORM_SCHEMA = "platform"

platform_registry = create_registry()
tenant_registry = create_registry()


class PlatformBase(DeclarativeBase):
    """Tables the co-operative owns, in schema ``platform``."""

    registry = platform_registry
    metadata = platform_registry.metadata


class TenantBase(DeclarativeBase):
    """Tables that exist once per tenant schema."""

    registry = tenant_registry
    metadata = tenant_registry.metadata


class UUIDKey:
    """A UUID primary key (advanced-alchemy's mixin would add a sentinel column to every table)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-100)


class PlatformRecord(UUIDKey, AuditColumns, CommonTableAttributes, PlatformBase):
    __abstract__ = True


class TenantRecord(UUIDKey, AuditColumns, CommonTableAttributes, TenantBase):
    __abstract__ = True
