"""Custom domains of a tenant, added by its administrator and served once a DNS TXT record proves the
council holds them: ``_bippop-verification.<domain>`` holding ``bippop-verification=<token>``.

The record is looked up with dnspython, on the servers of ``BIPPOP_DNS_NAMESERVERS`` (else the system's);
what was found instead is told. Every change goes through the tenant registry, which clears the hosts
concerned from the host cache; each is recorded in the tenant's audit log.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.appearance.registry import TenantRegistry
from bippop.config import Settings
from bippop.tenants.errors import TenantError
from bippop.tenants.models import Domain, Tenant
from bippop.web.forms import field_problem
from bippop.web.i18n import _

RECORD_PREFIX = "_bippop-verification."
VALUE_PREFIX = "bippop-verification="
MAX_DOMAINS = 10
DNS_SECONDS = 4.0


@dataclasses.dataclass(frozen=True)
class DomainView:
    id: uuid.UUID
    hostname: str
    verified: bool
    is_primary: bool
    record_name: str
    record_value: str


@dataclasses.dataclass
class DomainOutcome:
    done: bool = True
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    message: str = ""  # what the check found, for the page
    hostname: str = ""
    missing: bool = False  # the id names no domain of this tenant (another tenant's, say): 404


def _refused(error: TenantError, hostname: str = "") -> DomainOutcome:
    errors = {"domain": domain_message(error, hostname)}
    return DomainOutcome(done=False, errors=errors, hostname=hostname, missing=error.code == "not_found")


def views(tenant: Tenant) -> list[DomainView]:
    return [
        DomainView(
            id=d.id,
            hostname=d.hostname,
            verified=d.verified_at is not None,
            is_primary=d.is_primary,
            record_name=RECORD_PREFIX + d.hostname,
            record_value=VALUE_PREFIX + (d.verification_token or ""),
        )
        for d in tenant.domains
    ]


def domain_message(error: TenantError, hostname: str) -> str:
    return {
        "invalid": _("Enter a domain name like aide.my-town.fr (no http://, no slash)."),
        "private": _("This is not a public domain name: enter one like aide.my-town.fr."),
        "base_domain": _("This address is under the platform's own domain: your portal already has it."),
        "taken": _("This domain is already used by a portal."),
        "unverified": _("Only a verified domain can be the main address."),
        "not_found": _("This domain is not one of this portal's."),
        "too_many": _("A portal has %(count)d custom domains at most.") % {"count": MAX_DOMAINS},
    }.get(error.code or "", str(error))


async def add_domain(
    db_session: AsyncSession, registry: TenantRegistry, actor_id: uuid.UUID, hostname: str
) -> DomainOutcome:
    if problem := field_problem(hostname):
        return DomainOutcome(done=False, errors={"domain": problem}, hostname=hostname)
    token = secrets.token_hex(16)

    def add(service: Any, tenant: Tenant) -> str:
        if len(tenant.domains) >= MAX_DOMAINS:
            raise TenantError("too many domains", field="domain", code="too_many")
        return str(service.add_unverified_domain(tenant, hostname, token).hostname)

    try:
        added = await registry.change(add)
    except TenantError as exc:
        return _refused(exc, hostname)
    audit.record(db_session, "domain_added", actor_id=actor_id, details={"domain": added})
    return DomainOutcome(hostname=added)


async def txt_values(settings: Settings, name: str) -> list[str]:
    """The TXT strings at ``name``; NXDOMAIN and "no TXT record" are an empty list."""
    resolver = dns.asyncresolver.Resolver(configure=not settings.dns_nameserver_list())
    servers = settings.dns_nameserver_list()
    if servers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(address, port) for address, port in servers]
    resolver.lifetime = DNS_SECONDS
    try:
        answer = await resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


async def verify_domain(
    db_session: AsyncSession, registry: TenantRegistry, actor_id: uuid.UUID, domain_id: uuid.UUID
) -> DomainOutcome:
    """Look the record up; when it holds the token, the domain is verified (and served from then on)."""
    try:
        domain: Domain = await registry.read(lambda tenant: _one(tenant, domain_id))
    except TenantError as exc:
        return _refused(exc)
    name, expected = RECORD_PREFIX + domain.hostname, VALUE_PREFIX + (domain.verification_token or "")
    if domain.verified_at is not None:
        return DomainOutcome(hostname=domain.hostname, message=_("This domain is verified."))
    try:
        found = await txt_values(registry.settings, name)
    except dns.exception.DNSException:
        message = _("The DNS servers did not answer. Try again in a few minutes.")
        return DomainOutcome(done=False, message=message, hostname=domain.hostname)
    if expected not in [value.strip() for value in found]:
        return DomainOutcome(done=False, message=_found_instead(name, found), hostname=domain.hostname)
    await registry.change(lambda service, tenant: service.mark_verified(tenant, domain_id))
    audit.record(db_session, "domain_verified", actor_id=actor_id, details={"domain": domain.hostname})
    return DomainOutcome(
        hostname=domain.hostname, message=_("Verified: the portal now answers at this domain.")
    )


def _found_instead(name: str, found: list[str]) -> str:
    if not found:
        return _(
            "No TXT record was found at %(name)s. DNS changes can take up to an hour to be seen: check the "
            "record with your host, then try again."
        ) % {"name": name}
    shown = ", ".join(f"« {value[:80]} »" for value in found[:3])
    return _("The TXT record at %(name)s holds %(found)s, not the expected value.") % {
        "name": name,
        "found": shown,
    }


def _one(tenant: Tenant, domain_id: uuid.UUID) -> Domain:
    for domain in tenant.domains:
        if domain.id == domain_id:
            return domain
    raise TenantError("not found", field="domain", code="not_found")


async def set_primary(
    db_session: AsyncSession, registry: TenantRegistry, actor_id: uuid.UUID, domain_id: uuid.UUID
) -> DomainOutcome:
    try:
        domain = await registry.change(lambda service, tenant: service.set_primary(tenant, domain_id))
    except TenantError as exc:
        return _refused(exc)
    audit.record(db_session, "domain_primary_set", actor_id=actor_id, details={"domain": domain.hostname})
    return DomainOutcome(hostname=domain.hostname)


async def remove_domain(
    db_session: AsyncSession, registry: TenantRegistry, actor_id: uuid.UUID, domain_id: uuid.UUID
) -> DomainOutcome:
    def remove(service: Any, tenant: Tenant) -> str:
        hostname = str(service.domain_of(tenant, domain_id).hostname)
        service.remove_domain(tenant, hostname)
        return hostname

    try:
        hostname = await registry.change(remove)
    except TenantError as exc:
        return _refused(exc)
    audit.record(db_session, "domain_removed", actor_id=actor_id, details={"domain": hostname})
    return DomainOutcome(hostname=hostname)
