"""Platform tables of the tenancy core: tenants and their custom domains."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bippop.db.base import PLATFORM_SCHEMA, PlatformRecord
from bippop.tenants.context import TenantRef

KINDS = ("commune", "epci", "departement")
KIND_LABELS = {"commune": "Commune", "epci": "Intercommunalité (EPCI)", "departement": "Département"}
STATUSES = ("pending", "provisioning", "active", "failed", "suspended", "deleting", "moving")


class Tenant(PlatformRecord):
    __tablename__ = "tenants"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    official_code: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    db_role: Mapped[str] = mapped_column(String(63), unique=True)
    revision: Mapped[str | None] = mapped_column(String(400), default=None)  # heads joined by "+"
    cluster: Mapped[str] = mapped_column(String(30), default="main")
    theme: Mapped[str] = mapped_column(String(40), default="base")
    branding: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    provisioned_at: Mapped[datetime.datetime | None] = mapped_column(default=None)
    suspended_at: Mapped[datetime.datetime | None] = mapped_column(default=None)
    delete_after: Mapped[datetime.datetime | None] = mapped_column(default=None)
    last_export_key: Mapped[str | None] = mapped_column(String(300), default=None)

    # Every domain, verified or not, oldest first; only verified ones are served (``served_domains``).
    domains: Mapped[list[Domain]] = relationship(
        back_populates="tenant",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by=lambda: [Domain.created_at, Domain.hostname],
    )

    @property
    def served_domains(self) -> list[Domain]:
        """Verified domains, the primary first: the tenant's addresses besides its subdomain."""
        verified = [d for d in self.domains if d.verified_at is not None]
        return sorted(verified, key=lambda d: not d.is_primary)

    def ref(self) -> TenantRef:
        return TenantRef(
            id=self.id,
            slug=self.slug,
            name=self.name,
            kind=self.kind,
            schema=self.schema_name,
            role=self.db_role,
            status=self.status,
            theme=self.theme,
            branding=dict(self.branding or {}),
            cluster=self.cluster,
            primary_domain=self.served_domains[0].hostname if self.served_domains else None,
        )


class Domain(PlatformRecord):
    __tablename__ = "domains"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="CASCADE")
    )
    # Unique among verified domains (p0009): a pending claim blocks nobody.
    hostname: Mapped[str] = mapped_column(String(253))
    # A domain a council adds is served once a DNS TXT record proves it holds it; an operator's is trusted.
    verification_token: Mapped[str | None] = mapped_column(String(64), default=None)
    verified_at: Mapped[datetime.datetime | None] = mapped_column(default=None)
    is_primary: Mapped[bool] = mapped_column(default=False)

    tenant: Mapped[Tenant] = relationship(back_populates="domains")
