"""The branding editor (``/gestion/apparence``): each field saved and seen on the portal, refusals next to
their field with nothing typed lost, the logo checked by its content and served safely, the rights, and
tenant isolation of the logo."""

from __future__ import annotations

import contextlib
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts.models import AuditEvent
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.services import TenantService
from support import BASE_DOMAIN, csrf_token, host, log_in, make_person, make_tenant

SLUG, OTHER = "apparence", "apparence-b"
EN = {"bippop_lang": "en"}
HTML = {"Accept": "text/html"}
Client = TestClient[Litestar]
LOGO_KEYS = ("logo_key", "logo_type", "logo_version")

FORM = {
    "name": "Ville de Apparence",
    "tagline": "Personne ne reste seul ici.",
    "default_locale": "fr",
    "theme": "base",
    "primary": "#1d4f91",
    "accent": "#a3314b",
    "contact_phone": "03.44.40.72.00",
    "contact_email": "mairie@apparence.fr",
    "contact_address": "Place de l'Hôtel de Ville\n60200 Apparence",
    "contact_hours": "Lundi au vendredi : 8 h 30 – 12 h\nSamedi : 9 h – 12 h",
}


def png(width: int = 2, height: int = 3) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def council(settings: Settings) -> TenantRef:
    return make_tenant(settings, SLUG, "Apparenceville")


@pytest.fixture(scope="module")
def neighbour(settings: Settings) -> TenantRef:
    return make_tenant(settings, OTHER, "Voisinville")


@contextlib.contextmanager
def browser(settings: Settings, cookies: dict[str, str] | None = None) -> Iterator[Client]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies=cookies or EN) as client:
        yield client


def signed_in(
    web: Client, resources: PlatformResources, tenant: TenantRef, role: str, slug: str = SLUG
) -> None:
    _id, email, secret = make_person(resources, tenant, [role], totp=True)
    log_in(web, slug, email, secret)


def post(web: Client, path: str, data: dict[str, Any], slug: str = SLUG, **kw: Any) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, slug)
    return web.post(
        path,
        data={**data, "_csrf_token": token},
        headers={**host(slug), **HTML, **kw.pop("headers", {})},
        follow_redirects=False,
        **kw,
    )


def upload(web: Client, content: bytes, filename: str, kind: str, slug: str = SLUG) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, slug)
    return web.post(
        "/gestion/apparence/logo",
        data={"_csrf_token": token},
        files={"logo": (filename, content, kind)},
        headers={**host(slug), **HTML},
        follow_redirects=False,
    )


def events(resources: PlatformResources, tenant: TenantRef, action: str) -> list[AuditEvent]:
    with resources.sessions()(info={"tenant": tenant}) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_each_field_is_saved_and_shown_on_the_portal(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        page = web.get("/gestion/apparence", headers={**host(SLUG), **HTML})
        assert page.status_code == 200 and 'href="/gestion/apparence"' in page.text  # the « Appearance » link
        assert 'href="/coordination/modules"' in page.text
        # The portal is seen (and its host cached) before the change.
        assert "Apparenceville" in web.get("/", headers=host(SLUG)).text
        saved = post(web, "/gestion/apparence", {**FORM, "default_locale": "en"})
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == "/gestion/apparence?saved=appearance"
    with browser(settings, cookies={}) as visitor:
        home = visitor.get("/", headers=host(SLUG))
        assert "Ville de Apparence" in home.text and "Apparenceville" not in home.text  # no stale cache
        assert "Personne ne reste seul ici." in home.text
        assert '<html lang="en"' in home.text  # the default language, for a visitor who chose none
        contact = visitor.get("/contact", headers=host(SLUG)).text
        assert "03 44 40 72 00" in contact and 'href="tel:0344407200"' in contact
        assert "mairie@apparence.fr" in contact
        assert "Place de l&#39;Hôtel de Ville<br>60200 Apparence" in contact
        assert "Lundi au vendredi : 8 h 30 – 12 h<br>Samedi : 9 h – 12 h" in contact
        assert "--bp-primary: #1d4f91" in home.text
    (event,) = events(resources, council, "appearance_changed")
    assert {"name", "tagline", "contact_phone", "contact_hours"} <= set(event.details["changed"])
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        assert post(web, "/gestion/apparence", FORM).status_code == 303  # back to French for the others


def test_refusals_are_next_to_their_field_and_nothing_typed_is_lost(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    bad = {**FORM, "name": "Nom gardé", "primary": "#ffff00", "accent": "rouge", "contact_phone": "12 34"}
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        refused = post(web, "/gestion/apparence", bad)
        assert refused.status_code == 400
        text = refused.text
        assert re.search(r'id="error-primary">.*White text on #ffff00 has a contrast of only 1\.07:1', text)
        assert 'aria-describedby="hint-primary error-primary"' in text
        assert 'id="error-accent"' in text and "Enter a colour like #1d4f91" in text
        assert 'id="error-contact_phone"' in text and "French phone number" in text
        assert (
            'value="Nom gardé"' in text and 'value="rouge"' in text and "60200 Apparence</textarea>" in text
        )
    assert "Nom gardé" not in web.get("/", headers=host(SLUG)).text  # nothing saved


def test_the_colour_preview_answers_htmx_with_its_fragment(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        fragment = post(
            web, "/gestion/apparence/apercu", {**FORM, "primary": "#777777"}, headers={"HX-Request": "true"}
        )
        assert fragment.status_code == 200
        assert (
            "<html" not in fragment.text
            and "4.48:1" in fragment.text
            and "background-color: #777777" in fragment.text
        )
        whole = post(web, "/gestion/apparence/apercu", {**FORM, "primary": "#000000"})
        assert "<html" in whole.text and "21.0:1" in whole.text and 'value="Place' not in whole.text


def test_a_coordinator_is_refused(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    with browser(settings) as web:
        signed_in(web, resources, council, "coordinator")
        for path in ("/gestion/apparence", "/gestion/apparence/domaines"):
            assert web.get(path, headers={**host(SLUG), **HTML}).status_code == 403
        assert post(web, "/gestion/apparence", FORM).status_code == 403
        assert upload(web, png(), "logo.png", "image/png").status_code == 403
        assert (
            'href="/gestion/apparence"'
            not in web.get("/gestion/personnes", headers={**host(SLUG), **HTML}).text
        )


def test_a_png_logo_is_served_with_its_type_and_never_on_another_tenant(
    settings: Settings, resources: PlatformResources, council: TenantRef, neighbour: TenantRef
) -> None:
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        sent = upload(web, png(), "logo.png", "image/png")
        assert sent.status_code == 303, sent.text
        page = web.get("/gestion/apparence", headers={**host(SLUG), **HTML}).text
        version = re.search(r'src="/logo\?v=([0-9a-f]+)"', page)
        assert version is not None
        served = web.get(f"/logo?v={version[1]}", headers=host(SLUG))
        assert served.status_code == 200 and served.content == png()
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in served.headers["cache-control"]
        assert web.get(f"/logo?v={version[1]}", headers=host(OTHER)).status_code == 404
        assert web.get("/logo", headers=host("aide.alphaville-inconnue.fr")).status_code == 404
        with resources.sessions()() as session, session.begin():
            service = TenantService(
                session, base_domain=settings.base_domain, host_cache=resources.host_cache
            )
            ours = service.get(council.id)
            key = ours.branding["logo_key"]
            # Even pointed at the same key, the neighbour's host reads only the neighbour's folder.
            service.set_branding(service.get(neighbour.id), {k: ours.branding[k] for k in LOGO_KEYS})
        assert key.startswith("appearance/logo-")
        assert (settings.var_dir / "files" / "tenants" / str(council.id) / key).exists()
        assert web.get(f"/logo?v={version[1]}", headers=host(OTHER)).status_code == 404
        assert events(resources, council, "logo_uploaded")
        removed = post(web, "/gestion/apparence/logo/supprimer", {})
        assert removed.status_code == 303
        assert web.get(f"/logo?v={version[1]}", headers=host(SLUG)).status_code == 404
        assert not (settings.var_dir / "files" / "tenants" / str(council.id) / key).exists()


def test_a_script_carrying_svg_comes_out_clean(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="alert(1)">'
        b'<script>alert(2)</script><a href="javascript:alert(3)"><circle r="10" cx="20" cy="20" '
        b'onclick="steal()"/></a><image href="https://evil.example/x.png"/></svg>'
    )
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        assert upload(web, svg, "logo.svg", "image/svg+xml").status_code == 303
        version = re.search(
            r'src="/logo\?v=([0-9a-f]+)"', web.get("/gestion/apparence", headers=host(SLUG)).text
        )
        served = web.get(f"/logo?v={version[1]}", headers=host(SLUG))  # type: ignore[index]
        assert served.headers["content-type"].startswith("image/svg+xml")
        assert served.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
        body = served.text.lower()
        assert "<circle" in body
        for dangerous in ("<script", "onload", "onclick", "javascript:", "evil.example"):
            assert dangerous not in body, dangerous


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (
            b"<!doctype html><html><body><script>alert(1)</script></body></html>",
            "logo.png",
            "is not a PNG, JPEG or SVG",
        ),
        (png()[:20], "cut.png", "is not a PNG, JPEG or SVG"),
        (png() + b"\x00" * (600 * 1024), "big.png", "too big: 512 KB at most"),
        (png(5000, 10), "wide.png", "4096 pixels at most"),
        (b"", "empty.png", "Choose a file"),
    ],
)
def test_fake_oversized_or_empty_images_are_refused_next_to_the_field(
    settings: Settings,
    resources: PlatformResources,
    council: TenantRef,
    content: bytes,
    filename: str,
    message: str,
) -> None:
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        refused = upload(web, content, filename, "image/png")
        assert refused.status_code == 400
        assert re.search(r'id="error-logo">.*' + re.escape(message), refused.text)
        assert 'aria-describedby="hint-logo error-logo"' in refused.text


def test_a_body_far_over_the_limit_is_cut_short(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        assert upload(web, b"\x89PNG" + b"0" * (3 * 1024 * 1024), "huge.png", "image/png").status_code == 413


def test_the_editor_speaks_french_by_default(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    with browser(settings, cookies={"bippop_lang": "fr"}) as web:
        signed_in(web, resources, council, "tenant_admin")
        page = web.get("/gestion/apparence", headers={**host(SLUG), **HTML}).text
        for words in ("Apparence du portail", "Couleur principale", "Horaires d", "Déposer le logo"):
            assert words in page, words
        refused = post(web, "/gestion/apparence", {**FORM, "accent": "#ffff00"})
        assert "Le texte blanc sur #ffff00 n&#39;a qu&#39;un contraste de 1.07:1" in refused.text


def test_a_get_of_each_action_address_goes_to_its_page(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    with browser(settings) as web:
        signed_in(web, resources, council, "tenant_admin")
        for path in (
            "/gestion/apparence/apercu",
            "/gestion/apparence/logo",
            "/gestion/apparence/logo/supprimer",
            "/gestion/apparence/domaines/6f1c1b7e-0000-4000-8000-000000000000/verifier",
        ):
            answer = web.get(path, headers={**host(SLUG), **HTML}, follow_redirects=False)
            assert answer.status_code == 303, path
            assert web.get(answer.headers["location"], headers={**host(SLUG), **HTML}).status_code == 200, (
                path
            )
