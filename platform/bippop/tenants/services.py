"""The tenant registry: create, find, list, suspend tenants and manage their domains.

Every change that can alter what a host resolves to invalidates the shared host
cache in the same call, so no process serves a stale tenant after it.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from advanced_alchemy.repository import SQLAlchemySyncRepository
from advanced_alchemy.service import SQLAlchemySyncRepositoryService
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bippop import clock
from bippop.tenants import naming
from bippop.tenants.branding import BrandingError, clean_branding
from bippop.tenants.cache import HostCache
from bippop.tenants.errors import TenantError
from bippop.tenants.models import KINDS, Domain, Tenant


def _now() -> datetime.datetime:
    return clock.now()


class TenantService(SQLAlchemySyncRepositoryService[Tenant]):
    """Tenants and domains, in schema ``platform``."""

    class Repo(SQLAlchemySyncRepository[Tenant]):
        model_type = Tenant

    repository_type = Repo

    def __init__(self, session: Session, *, base_domain: str, host_cache: HostCache | None = None, **kw: Any):
        super().__init__(session=session, **kw)
        self.base_domain = base_domain
        self.host_cache = host_cache

    # Queries ----------------------------------------------------------------------

    def by_slug(self, slug: str) -> Tenant | None:
        return self.get_one_or_none(slug=slug)

    def require(self, slug: str) -> Tenant:
        tenant = self.by_slug(slug)
        if tenant is None:
            raise TenantError(f"Aucune collectivité avec l'identifiant « {slug} ».", field="slug")
        return tenant

    def all(self) -> Sequence[Tenant]:
        return self.repository.session.scalars(select(Tenant).order_by(Tenant.slug)).all()

    def hosts_of(self, tenant: Tenant) -> list[str]:
        return [f"{tenant.slug}.{self.base_domain}", *(d.hostname for d in tenant.domains)]

    # Changes ----------------------------------------------------------------------

    def register(
        self,
        *,
        slug: str,
        name: str,
        kind: str,
        official_code: str,
        domains: Iterable[str] = (),
        branding: dict[str, Any] | None = None,
        theme: str = "base",
        cluster: str = "main",
        known_clusters: Iterable[str] = ("main",),
    ) -> Tenant:
        """Record a new tenant as ``pending``; provisioning is a separate, idempotent job."""
        try:
            schema = naming.schema_for(slug)
        except naming.InvalidName as exc:
            raise TenantError(str(exc), field="slug") from None
        name = " ".join(name.split())
        if not 2 <= len(name) <= 200:
            raise TenantError("Le nom doit compter entre 2 et 200 caractères.", field="name")
        if kind not in KINDS:
            raise TenantError(f"Type « {kind} » inconnu : {', '.join(KINDS)}.", field="kind")
        code = official_code.strip().upper()
        if not code or len(code) > 20 or not code.isalnum():
            raise TenantError(
                "Code officiel invalide (code INSEE, SIREN ou numéro de département).", field="official_code"
            )
        if self.by_slug(slug) is not None:
            raise TenantError(f"L'identifiant « {slug} » est déjà pris.", field="slug")
        if cluster not in set(known_clusters):
            raise TenantError(f"Grappe PostgreSQL « {cluster} » inconnue (BIPPOP_CLUSTERS).", field="cluster")
        try:
            cleaned = clean_branding(branding or {})
        except BrandingError as exc:
            raise TenantError(str(exc), field=exc.field) from None
        database = self.repository.session.execute(text("select current_database()")).scalar_one()
        tenant = Tenant(
            id=uuid.uuid4(),
            slug=slug,
            name=name,
            kind=kind,
            official_code=code,
            status="pending",
            schema_name=schema,
            db_role=naming.role_for(schema, database),
            theme=theme,
            branding=cleaned,
            cluster=cluster,
        )
        self.repository.session.add(tenant)
        for hostname in domains:
            self._attach_domain(tenant, hostname)
        self.repository.session.flush()
        self._invalidate(self.hosts_of(tenant))
        return tenant

    def add_domain(self, tenant: Tenant, hostname: str) -> Domain:
        domain = self._attach_domain(tenant, hostname)
        self.repository.session.flush()
        # Every host of the tenant: the cached tenant carries its primary domain.
        self._invalidate(self.hosts_of(tenant))
        return domain

    def remove_domain(self, tenant: Tenant, hostname: str) -> None:
        host = naming.normalise_hostname(hostname)
        for domain in list(tenant.domains):
            if domain.hostname == host:
                tenant.domains.remove(domain)
        self.repository.session.flush()
        self._invalidate([host, *self.hosts_of(tenant)])

    def set_status(self, tenant: Tenant, status: str) -> Tenant:
        tenant.status = status
        tenant.suspended_at = _now() if status == "suspended" else None
        self.repository.session.flush()
        self._invalidate(self.hosts_of(tenant))
        return tenant

    def suspend(self, tenant: Tenant) -> Tenant:
        if tenant.status not in ("active", "suspended"):
            raise TenantError(f"« {tenant.slug} » n'est pas actif (état : {tenant.status}).", field="slug")
        return self.set_status(tenant, "suspended")

    def reactivate(self, tenant: Tenant) -> Tenant:
        if tenant.status != "suspended":
            raise TenantError(f"« {tenant.slug} » n'est pas suspendu (état : {tenant.status}).", field="slug")
        return self.set_status(tenant, "active")

    def set_branding(self, tenant: Tenant, branding: dict[str, Any]) -> Tenant:
        try:
            tenant.branding = clean_branding({**tenant.branding, **branding})
        except BrandingError as exc:
            raise TenantError(str(exc), field=exc.field) from None
        self.repository.session.flush()
        self._invalidate(self.hosts_of(tenant))
        return tenant

    # Internals ----------------------------------------------------------------------

    def _attach_domain(self, tenant: Tenant, hostname: str) -> Domain:
        try:
            host = naming.normalise_hostname(hostname)
        except naming.InvalidName as exc:
            raise TenantError(str(exc), field="domain") from None
        if host == self.base_domain or host.endswith("." + self.base_domain):
            raise TenantError(
                f"« {host} » est sous le domaine de la plateforme : il est déjà servi par l'identifiant.",
                field="domain",
            )
        taken = self.repository.session.scalar(select(Domain.id).where(Domain.hostname == host))
        if taken is not None:
            raise TenantError(f"Le domaine « {host} » est déjà utilisé.", field="domain")
        # An operator's domain (the CLI, a restore) is trusted: served at once, primary if it is the first.
        domain = Domain(
            id=uuid.uuid4(),
            hostname=host,
            verified_at=_now(),
            is_primary=not any(d.is_primary for d in tenant.domains),
        )
        tenant.domains.append(domain)
        return domain

    def _invalidate(self, hosts: Iterable[str]) -> None:
        if self.host_cache is not None:
            self.host_cache.invalidate(hosts)
