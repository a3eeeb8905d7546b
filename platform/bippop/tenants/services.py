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
from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bippop import clock
from bippop.tenants import naming
from bippop.tenants.branding import BrandingError, clean_branding
from bippop.tenants.cache import HostInvalidator
from bippop.tenants.errors import TenantError
from bippop.tenants.models import KINDS, Domain, Tenant
from bippop.tenants.official import claim_official_code


def _now() -> datetime.datetime:
    return clock.now()


class TenantService(SQLAlchemySyncRepositoryService[Tenant]):
    """Tenants and domains, in schema ``platform``."""

    class Repo(SQLAlchemySyncRepository[Tenant]):
        model_type = Tenant

    repository_type = Repo

    def __init__(
        self, session: Session, *, base_domain: str, host_cache: HostInvalidator | None = None, **kw: Any
    ):
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
        check_official: bool = True,
    ) -> Tenant:
        """Record a new tenant as ``pending``; provisioning is a separate, idempotent job.

        With ``check_official`` (the default), ``(kind, official_code)`` must be in the official list
        and not used by another tenant that is not being deleted (``tenants/official.py``); the code is
        stored as the list spells it. Without it (tests, restoring a copy), any well-formed code goes."""
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
        if check_official:
            code = claim_official_code(self.repository.session, kind, code).code
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
        """Merge ``branding`` into the tenant's (a key set to None or "" is removed)."""
        try:
            cleaned = clean_branding({**tenant.branding, **branding})
        except BrandingError as exc:
            raise TenantError(str(exc), field=exc.field) from None
        self._update_columns(tenant, branding=cleaned)
        return tenant

    def rename(self, tenant: Tenant, name: str) -> Tenant:
        name = " ".join(name.split())
        if not 2 <= len(name) <= 200:
            raise TenantError("Le nom doit compter entre 2 et 200 caractères.", field="name", code="length")
        self._update_columns(tenant, name=name)
        return tenant

    def set_theme(self, tenant: Tenant, theme: str, known: Iterable[str]) -> Tenant:
        if theme not in set(known):
            raise TenantError(f"Thème « {theme} » inconnu.", field="theme", code="unknown")
        self._update_columns(tenant, theme=theme)
        return tenant

    def add_unverified_domain(self, tenant: Tenant, hostname: str, token: str) -> Domain:
        """A domain a council adds: not served until ``mark_verified`` (its DNS TXT record holds ``token``).
        Other tenants may claim it too until one proves it holds it."""
        host = self._free_host(hostname, tenant)
        session = self.repository.session
        domain = Domain(id=uuid.uuid4(), hostname=host, verification_token=token, is_primary=False)
        try:
            with session.begin_nested():  # the same claim sent twice at once: the second is "taken"
                session.add(domain)
                domain.tenant_id = tenant.id
                session.flush()
        except IntegrityError:
            raise self._taken(host) from None
        session.refresh(tenant, ["domains"])
        self._invalidate([host, *self.hosts_of(tenant)])
        return domain

    def domain_of(self, tenant: Tenant, domain_id: uuid.UUID) -> Domain:
        """One of *this* tenant's domains; another tenant's id is "not found"."""
        for domain in tenant.domains:
            if domain.id == domain_id:
                return domain
        raise TenantError("Domaine introuvable.", field="domain", code="not_found")

    def mark_verified(self, tenant: Tenant, domain_id: uuid.UUID) -> Domain:
        """The DNS proved it: the domain is served, and the other tenants' pending claims of it go."""
        domain = self.domain_of(tenant, domain_id)
        if domain.verified_at is None:
            session = self.repository.session
            # Two tenants proving the same name at once: one after the other, the second finds it taken.
            session.execute(select(func.pg_advisory_xact_lock(func.hashtext("domain:" + domain.hostname))))
            if self._verified_elsewhere(domain.hostname, tenant):
                raise self._taken(domain.hostname)
            domain.verified_at = _now()
            session.flush()
            session.execute(
                delete(Domain).where(
                    Domain.hostname == domain.hostname,
                    Domain.tenant_id != tenant.id,
                    Domain.verified_at.is_(None),
                )
            )
        self._invalidate(self.hosts_of(tenant))
        return domain

    def set_primary(self, tenant: Tenant, domain_id: uuid.UUID) -> Domain:
        """The address the tenant's links use; only a verified domain can be it."""
        domain = self.domain_of(tenant, domain_id)
        if domain.verified_at is None:
            raise TenantError(
                f"« {domain.hostname} » n'est pas encore vérifié.", field="domain", code="unverified"
            )
        for other in tenant.domains:
            if other.is_primary and other is not domain:
                other.is_primary = False
        self.repository.session.flush()  # one primary per tenant (a unique index): the old one goes first
        domain.is_primary = True
        self.repository.session.flush()
        self._invalidate(self.hosts_of(tenant))
        return domain

    # Internals ----------------------------------------------------------------------

    # The app's database role may update only these columns of a tenant (``tenants/ddl.py``): an ORM
    # flush would also write ``updated_at``, so the change is one explicit statement.
    UPDATABLE = {"name": None, "theme": None, "branding": JSONB}

    def _update_columns(self, tenant: Tenant, **values: Any) -> None:
        names = sorted(values)
        if not names or not set(names) <= set(self.UPDATABLE):
            raise ValueError(f"columns {names} cannot be updated")
        statement = text(
            "update platform.tenants set " + ", ".join(f"{n} = :{n}" for n in names) + " where id = :id"
        ).bindparams(*(bindparam(n, type_=t) for n, t in self.UPDATABLE.items() if n in values and t))
        self.repository.session.execute(statement, {**values, "id": tenant.id})
        for name, value in values.items():
            set_committed_value(tenant, name, value)
        self._invalidate(self.hosts_of(tenant))

    @staticmethod
    def _taken(host: str) -> TenantError:
        return TenantError(f"Le domaine « {host} » est déjà utilisé.", field="domain", code="taken")

    def _verified_elsewhere(self, host: str, tenant: Tenant | None) -> bool:
        query = select(Domain.id).where(Domain.hostname == host, Domain.verified_at.is_not(None))
        if tenant is not None:
            query = query.where(Domain.tenant_id != tenant.id)
        return self.repository.session.scalar(query.limit(1)) is not None

    def _free_host(self, hostname: str, claimant: Tenant | None = None) -> str:
        """``hostname`` normalised, outside the base domain, proved by nobody and not already this
        tenant's (``claimant``: a council's pending claim; ``None``: an operator's, served at once), or
        TenantError."""
        try:
            host = naming.normalise_hostname(hostname)
        except naming.InvalidName as exc:
            raise TenantError(str(exc), field="domain", code="invalid") from None
        if host == self.base_domain or host.endswith("." + self.base_domain):
            raise TenantError(
                f"« {host} » est sous le domaine de la plateforme : il est déjà servi par l'identifiant.",
                field="domain",
                code="base_domain",
            )
        if claimant is not None and not naming.is_public_hostname(host):
            raise TenantError(
                f"« {host} » n'est pas un nom de domaine public (comme aide.mairie-exemple.fr).",
                field="domain",
                code="private",
            )
        if self._verified_elsewhere(host, None):
            raise self._taken(host)
        if claimant is not None and any(d.hostname == host for d in claimant.domains):
            raise self._taken(host)
        return host

    def _attach_domain(self, tenant: Tenant, hostname: str) -> Domain:
        host = self._free_host(hostname)
        # An operator's domain (the CLI, a restore) is trusted: served at once, primary if it is the first.
        domain = Domain(
            id=uuid.uuid4(),
            hostname=host,
            verified_at=_now(),
            is_primary=not any(d.is_primary for d in tenant.domains),
        )
        tenant.domains.append(domain)
        # Served at once: pending claims of it by councils go.
        self.repository.session.execute(
            delete(Domain).where(Domain.hostname == host, Domain.verified_at.is_(None))
        )
        return domain

    def _invalidate(self, hosts: Iterable[str]) -> None:
        if self.host_cache is not None:
            self.host_cache.invalidate(hosts)
