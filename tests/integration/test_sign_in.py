"""Sign-in with a password and a second factor, sign-out, CSRF, and the calm messages of each failure."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, host, make_person, totp_now


@pytest.fixture
def web(settings: Settings):  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        yield client


def test_volunteer_signs_in_with_password_and_out(
    web, resources: PlatformResources, tenant: TenantRef
) -> None:  # type: ignore[no-untyped-def]
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    token = csrf_token(web, "alpha")
    response = web.post(
        "/connexion",
        data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token, "next_url": "/compte"},
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/compte"
    cookie = response.headers["set-cookie"]
    assert "bippop_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = web.get("/compte", headers=host("alpha"))
    assert page.status_code == 200
    assert email in page.text
    token = csrf_token(web, "alpha")  # signed in: forms carry the session's own CSRF token
    out = web.post("/deconnexion", data={"_csrf_token": token}, headers=host("alpha"), follow_redirects=False)
    assert out.status_code == 303
    again = web.get("/compte", headers={**host("alpha"), "Accept": "text/html"}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/connexion?next_url=%2Fcompte")


def test_wrong_password_and_unknown_address_get_the_same_answer(
    web, resources: PlatformResources, tenant: TenantRef
) -> None:  # type: ignore[no-untyped-def]
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    token = csrf_token(web, "alpha")
    wrong = web.post(
        "/connexion",
        data={"email": email, "password": "nope nope nope", "_csrf_token": token},
        headers=host("alpha"),
    )
    unknown = web.post(
        "/connexion",
        data={"email": "nobody@example.org", "password": "nope nope nope", "_csrf_token": token},
        headers=host("alpha"),
    )
    assert wrong.status_code == unknown.status_code == 400
    assert "Le courriel ou le mot de passe" in wrong.text
    assert wrong.text.replace(email, "").count("Le courriel ou le mot de passe") == unknown.text.count(
        "Le courriel ou le mot de passe"
    )


def test_post_without_csrf_token_is_refused(web, resources: PlatformResources, tenant: TenantRef) -> None:  # type: ignore[no-untyped-def]
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    csrf_token(web, "alpha")
    response = web.post(
        "/connexion",
        data={"email": email, "password": DEFAULT_PASSWORD},
        headers={**host("alpha"), "Accept": "text/html"},
    )
    assert response.status_code == 403
    assert "Ce formulaire a expiré" in response.text


def test_coordinator_signs_in_with_totp(web, resources: PlatformResources, tenant: TenantRef) -> None:  # type: ignore[no-untyped-def]
    _, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    assert secret
    token = csrf_token(web, "alpha")
    first = web.post(
        "/connexion",
        data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token},
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert first.status_code == 303 and first.headers["location"] == "/connexion/code"
    assert (
        web.get(
            "/compte", headers={**host("alpha"), "Accept": "text/html"}, follow_redirects=False
        ).status_code
        == 303
    )
    bad = web.post("/connexion/code", data={"code": "000000", "_csrf_token": token}, headers=host("alpha"))
    assert bad.status_code == 400 and "Ce code n" in bad.text
    good = web.post(
        "/connexion/code",
        data={"code": totp_now(secret), "_csrf_token": token},
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert good.status_code == 303, good.text
    assert web.get("/compte", headers=host("alpha")).status_code == 200


async def test_password_checks_leave_the_event_loop_free(
    settings: Settings, resources: PlatformResources, tenant: TenantRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 takes a core for a fraction of a second: a sign-in, a sign-up and a sign-in with an unknown
    address each hash or check in a worker thread, never on the thread that serves every other page."""
    import re
    import threading

    import httpx

    from bippop.accounts import passwords

    on_loop: list[str] = []
    real = passwords._hasher

    class Watched:
        """The real hasher, noting each use made on the main thread (where this test serves the app)."""

        def __getattr__(self, name: str) -> object:
            if name in ("hash", "verify") and threading.current_thread() is threading.main_thread():
                on_loop.append(name)
            return getattr(real, name)

    _, email, _ = make_person(resources, tenant, ["volunteer"])
    monkeypatch.setattr(passwords, "_hasher", Watched())
    app = create_app(settings)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{BASE_DOMAIN}") as web,
    ):

        async def token_of(path: str) -> str:
            page = await web.get(path, headers=host("alpha"))
            found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
            assert found, page.text
            return found.group(1)

        for form in (
            {"email": "personne@example.org", "password": DEFAULT_PASSWORD},
            {"email": email, "password": DEFAULT_PASSWORD},
        ):
            token = await token_of("/connexion")
            answer = await web.post("/connexion", data={**form, "_csrf_token": token}, headers=host("alpha"))
            assert answer.status_code in (303, 400)
        web.cookies.clear()
        signed_up = await web.post(
            "/inscription",
            data={
                "display_name": "Nouvelle Personne",
                "email": "nouvelle@example.org",
                "password": "Un mot de passe bien long 2026 !",
                "role": "beneficiary",
                "_csrf_token": await token_of("/inscription"),
            },
            headers=host("alpha"),
        )
        assert signed_up.status_code in (200, 303), signed_up.text[:300]
    assert on_loop == []
