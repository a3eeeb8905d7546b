"""The current tenant: a context variable set by host resolution and by the job middleware."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class TenantRef:
    """What a request or job needs to know of its tenant; small, immutable, cacheable."""

    id: uuid.UUID
    slug: str
    name: str
    kind: str
    schema: str
    role: str
    status: str
    theme: str = "base"
    branding: dict[str, Any] = dataclasses.field(default_factory=dict)
    cluster: str = "main"
    # Where its links point (first custom domain); None: ``<slug>.<base domain>``.
    primary_domain: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["id"] = str(self.id)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TenantRef:
        return cls(**{**data, "id": uuid.UUID(data["id"])})

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class NoTenant(RuntimeError):
    """Tenant-scoped work was attempted outside any tenant."""


_current: ContextVar[TenantRef | None] = ContextVar("bippop_tenant", default=None)


def current_tenant() -> TenantRef | None:
    return _current.get()


def require_tenant() -> TenantRef:
    tenant = _current.get()
    if tenant is None:
        raise NoTenant("this needs a tenant and none is set")
    return tenant


def set_current_tenant(tenant: TenantRef | None) -> None:
    """Set the tenant without a scope, for the job middleware whose start and end are two hooks."""
    _current.set(tenant)


@contextlib.contextmanager
def tenant_scope(tenant: TenantRef | None) -> Iterator[TenantRef | None]:
    token = _current.set(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)


def tenant_cache_key(*parts: str, tenant: TenantRef | None = None) -> str:
    """Every cache key about tenant data carries the tenant id: ``bippop:t:<id>:<parts>``."""
    owner = tenant or require_tenant()
    return ":".join(("bippop", "t", str(owner.id), *parts))
