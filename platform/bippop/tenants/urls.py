"""Absolute addresses of the platform's sites, for everything that leaves the page: links in
e-mails and texts (verification, reset, sign-in, invitations, digests, reminders), calendar feeds,
single sign-on return addresses.

They never come from the request's ``Host`` header, which a client chooses (a forged one would send
a secret link to someone else's server): the host is the tenant's registered primary address — its
first custom domain, else ``<slug>.<base domain>`` — and the scheme and port come from
``BIPPOP_PUBLIC_URL`` (``Settings.effective_public_url``). Requests and jobs get the same answer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bippop.config import Settings
from bippop.tenants.context import TenantRef


def tenant_host(tenant: TenantRef, settings: Settings) -> str:
    """The host name the tenant's links use."""
    return tenant.primary_domain or f"{tenant.slug}.{settings.base_domain}"


def tenant_url(tenant: TenantRef, path: str, settings: Settings) -> str:
    """``path`` (``""`` or starting with ``/``) on the tenant's registered address."""
    return _absolute(tenant_host(tenant, settings), path, settings)


def coop_url(path: str, settings: Settings) -> str:
    """``path`` on the co-operative's console, ``coop.<base domain>``."""
    return _absolute(f"coop.{settings.base_domain}", path, settings)


def public_url(path: str, settings: Settings) -> str:
    """``path`` on the public site, the base domain itself (a council's sign-up links)."""
    return _absolute(settings.base_domain, path, settings)


def subdomain_url(slug: str, path: str, settings: Settings) -> str:
    """``path`` on ``<slug>.<base domain>``: the address a tenant will have (shown before it exists)."""
    return _absolute(f"{slug}.{settings.base_domain}", path, settings)


def _absolute(host: str, path: str, settings: Settings) -> str:
    if path and not path.startswith("/"):
        raise ValueError(f"a path starts with '/': {path!r}")
    public = urlsplit(settings.effective_public_url)
    default = {"http": 80, "https": 443}.get(public.scheme)
    port = f":{public.port}" if public.port not in (None, default) else ""
    return f"{public.scheme}://{host}{port}{path}"
