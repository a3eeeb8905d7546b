"""CSRF tokens are bound to the session (issue #9, item 5 f): a token and cookie planted in a browser, or
kept from another session, do not let anyone send a form as the person signed in there."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, host, log_in, make_person

HTML = {"Accept": "text/html"}
EXPIRED = "Ce formulaire a expiré"


def browser(settings: Settings) -> TestClient:  # type: ignore[type-arg]
    """One browser (its own cookie jar), on its own app instance: one event loop per test client."""
    return TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}")


@pytest.fixture
def attacker(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with browser(settings) as client:
        yield client


@pytest.fixture
def victim(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with browser(settings) as client:
        yield client


def change_preferences(client: TestClient, token: str, **cookies: str):  # type: ignore[no-untyped-def,type-arg]
    """What a forged form would do on the victim's behalf: change how they hear from the service."""
    headers = {**host("alpha"), **HTML}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return client.post(
        "/compte/preferences",
        data={"channel": "email", "phone": "", "_csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )


def page_token(client: TestClient, path: str = "/compte") -> str:  # type: ignore[type-arg]
    page = client.get(path, headers=host("alpha"))
    assert page.status_code == 200, page.text
    found = re.search(r'hx-headers=\'\{"x-csrftoken": "([0-9a-f]+)"\}\'', page.text)
    assert found, "the page carries the token htmx sends"
    assert f'name="_csrf_token" value="{found.group(1)}"' in page.text  # and the one its forms send
    return found.group(1)


def test_a_planted_token_stops_working_when_the_victim_signs_in(
    attacker: TestClient,  # type: ignore[type-arg]
    victim: TestClient,  # type: ignore[type-arg]
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    # The attacker's own valid token and cookie, planted in the victim's browser before they sign in.
    planted = csrf_token(attacker, "alpha")
    victim.cookies.set("csrftoken", planted, domain=BASE_DOMAIN)
    signed_in = victim.post(
        "/connexion",
        data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": planted},
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    session = victim.cookies.get("bippop_session")
    assert session

    # The forged form, with the planted token, and the planted cookie sent again (cookie tossing).
    for forged in (
        change_preferences(victim, planted),
        change_preferences(victim, planted, bippop_session=session, csrftoken=planted),
    ):
        assert forged.status_code == 403
        assert EXPIRED in forged.text

    # The victim's own page works, by form field and by htmx header.
    token = page_token(victim)
    assert token != planted
    assert change_preferences(victim, token).status_code == 303
    htmx = victim.post(
        "/compte/preferences",
        data={"channel": "email", "phone": ""},
        headers={**host("alpha"), "x-csrftoken": token, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert htmx.status_code == 303
    planted_header = victim.post(
        "/compte/preferences",
        data={"channel": "email", "phone": ""},
        headers={
            **host("alpha"),
            **HTML,
            "x-csrftoken": planted,
            "Cookie": f"bippop_session={session}; csrftoken={planted}",
        },
        follow_redirects=False,
    )
    assert planted_header.status_code == 403


def test_a_token_from_another_session_is_refused(
    attacker: TestClient,  # type: ignore[type-arg]
    victim: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    # The attacker signs in on the same commune (and, separately, the victim's own other session).
    _, attacker_email, _ = make_person(resources, tenant, ["volunteer"])
    _, victim_email, _ = make_person(resources, tenant, ["volunteer"])
    log_in(attacker, "alpha", attacker_email)
    attackers_token = page_token(attacker)
    log_in(victim, "alpha", victim_email)
    session = victim.cookies.get("bippop_session")
    assert session
    forged = change_preferences(victim, attackers_token, bippop_session=session, csrftoken=attackers_token)
    assert forged.status_code == 403 and EXPIRED in forged.text

    with browser(settings) as phone:
        log_in(phone, "alpha", victim_email)
        phones_token = page_token(phone)
    assert phones_token != page_token(victim)
    mixed = change_preferences(victim, phones_token, bippop_session=session, csrftoken=phones_token)
    assert mixed.status_code == 403
    assert change_preferences(victim, page_token(victim)).status_code == 303


def test_after_sign_out_the_sessions_token_is_no_longer_the_browsers(
    victim: TestClient,  # type: ignore[type-arg]
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    log_in(victim, "alpha", email)
    token = page_token(victim)
    out = victim.post(
        "/deconnexion", data={"_csrf_token": token}, headers=host("alpha"), follow_redirects=False
    )
    assert out.status_code == 303
    assert victim.cookies.get("csrftoken") not in (None, token)
    # Signed out, the sign-in form still works with the token its page gives.
    log_in(victim, "alpha", email)
    assert change_preferences(victim, page_token(victim)).status_code == 303


def test_a_browser_that_kept_only_its_session_cookie_gets_working_forms(
    victim: TestClient,  # type: ignore[type-arg]
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    """The CSRF cookie lasts as long as the browser is open, the session cookie longer: after a restart
    the first page must give a token that its cookie matches, not a form that has already expired."""
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    log_in(victim, "alpha", email)
    session = victim.cookies.get("bippop_session")
    victim.cookies.clear()
    victim.cookies.set("bippop_session", session, domain=BASE_DOMAIN)
    assert change_preferences(victim, page_token(victim)).status_code == 303
