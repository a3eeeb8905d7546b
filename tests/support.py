"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from bippop.config import Settings
from bippop.tenants.context import TenantRef

BASE_DOMAIN = "bippop.test"


def make_tenant(settings: Settings, slug: str, name: str, **kwargs: object) -> TenantRef:
    from bippop.runtime.operations import create_tenant

    code = str(kwargs.pop("code", "60159"))
    tenant = create_tenant(settings, slug, name, "commune", code, **kwargs)  # type: ignore[arg-type]
    return tenant.ref()


def host(slug_or_domain: str) -> dict[str, str]:
    """Headers for a request on a tenant's subdomain (a slug) or on a full host name."""
    name = slug_or_domain if "." in slug_or_domain else f"{slug_or_domain}.{BASE_DOMAIN}"
    return {"Host": name}
