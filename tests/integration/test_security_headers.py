"""Every response carries the security headers, whatever the host or outcome."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from bippop.config import Settings
from bippop.tenants.context import TenantRef
from bippop.web.security import security_headers
from support import BASE_DOMAIN, host


async def test_headers_on_pages_fragments_errors_and_health(
    client: AsyncTestClient, tenant: TenantRef
) -> None:
    for headers, path in (
        (host("alpha"), "/"),
        ({**host("alpha"), "HX-Request": "true"}, "/contact"),
        (host("alpha"), "/does-not-exist"),
        ({"Host": BASE_DOMAIN}, "/"),
        ({"Host": "unknown.example"}, "/"),
        ({"Host": "unknown.example"}, "/healthz"),
        ({"Host": "unknown.example"}, "/static/base/css/base.css"),
    ):
        response = await client.get(path, headers=headers)
        csp = response.headers.get("content-security-policy", "")
        assert (
            "script-src 'self'" in csp and "unsafe-inline' " not in csp.split("script-src")[1].split(";")[0]
        )
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in response.headers  # not in tests or development


def test_hsts_outside_development(settings: Settings) -> None:
    production = dict(security_headers(settings.replace(env="production")))
    assert production[b"strict-transport-security"].startswith(b"max-age=31536000")
    assert b"strict-transport-security" not in dict(security_headers(settings.replace(env="development")))
