"""Every response carries the security headers, whatever the host or outcome."""

from __future__ import annotations

from litestar.testing import AsyncTestClient, TestClient

from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.web.security import security_headers
from support import BASE_DOMAIN, DEFAULT_PASSWORD, host, make_person


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


def test_personal_pages_are_never_stored_static_files_still_are(
    settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    """A shared computer's browser (back button) or a proxy keeps nothing personal."""
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        signed_out = web.get("/", headers=host("alpha"))
        assert "set-cookie" not in signed_out.headers  # a page without a form sets no CSRF cookie
        first_form = web.get("/connexion", headers=host("alpha"))
        assert "csrftoken=" in first_form.headers["set-cookie"]  # a form's page does, once
        assert "no-store" not in signed_out.headers.get("cache-control", "")
        # Account and link pages, even signed out and setting no cookie.
        for path in ("/connexion", "/inscription", "/mot-de-passe-oublie", "/lien/un-lien-inconnu"):
            page = web.get(path, headers=host("alpha"))
            assert "set-cookie" not in page.headers, path
            assert page.headers["cache-control"] == "no-store", path
        token = str(web.cookies.get("csrftoken"))
        sign_in = web.post(
            "/connexion",
            data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token},
            headers=host("alpha"),
            follow_redirects=False,
        )
        assert "bippop_session=" in sign_in.headers["set-cookie"]
        assert sign_in.headers["cache-control"] == "no-store"
        for path in ("/", "/mes-demandes", "/compte", "/contact"):
            page = web.get(path, headers=host("alpha"))
            assert page.status_code == 200, path
            assert page.headers["cache-control"] == "no-store", path
        static = web.get("/static/base/css/base.css", headers=host("alpha"))
        assert static.status_code == 200
        assert "no-store" not in static.headers.get("cache-control", "")
