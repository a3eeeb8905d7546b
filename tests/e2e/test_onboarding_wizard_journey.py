"""A council goes from the public home page through the whole onboarding wizard to its new portal, in
French, driven by labels and roles, and lands signed in as its administrator (two-step sign-in codes
computed with pyotp from the key shown as text); axe-core checks every step and the progress page
before and after its htmx update. A real worker finishes the sign-up."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import uvicorn
from sqlalchemy import select

from bippop.app import create_app
from bippop.config import Settings
from bippop.outbox.models import PlatformOutboxMessage
from bippop.runtime.resources import PlatformResources
from e2e.accessibility import assert_accessible
from support import running_worker

pytestmark = pytest.mark.e2e

EMAIL = "maire@verberie.example"


@contextlib.contextmanager
def serving_with_links(settings: Settings) -> Iterator[str]:
    """The app on a free port whose links (the new portal's sign-in link) carry that port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings.replace(public_url=f"http://{settings.base_domain}:{port}"))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    yield f"{settings.base_domain}:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def linked_server(settings: Settings) -> Iterator[str]:
    with serving_with_links(settings) as address:
        yield address


def email_code(resources: PlatformResources) -> str:
    with resources.sessions()() as session:
        body = session.scalars(
            select(PlatformOutboxMessage.body)
            .where(PlatformOutboxMessage.recipient == EMAIL)
            .order_by(PlatformOutboxMessage.created_at.desc())
        ).first()
    found = re.search(r"\b(\d{6})\b", body or "")
    assert found, body
    return found.group(1)


def continue_(page: Any, url: str) -> None:
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(url)
    assert_accessible(page)


def account_steps(page: Any, resources: PlatformResources) -> str:
    """Step 2: the account, the e-mail code, two-step sign-in; returns the TOTP key."""
    page.get_by_label("Vos prénom et nom").fill("Hélène Dupont")
    page.get_by_label("Votre adresse électronique professionnelle").fill(EMAIL)
    page.get_by_label("Choisissez un mot de passe").fill("cheval agrafe pile correcte 42")
    page.get_by_label(re.compile("J’agis au nom de cette collectivité")).check()
    continue_(page, "**/creation/compte/code")
    page.get_by_label("Code reçu par courriel").fill("000001")
    page.get_by_role("button", name="Vérifier le code").click()
    page.wait_for_load_state()
    assert page.locator("#error-code").is_visible() or page.url.endswith("/double-authentification")
    if not page.url.endswith("/double-authentification"):
        assert_accessible(page)
        page.get_by_label("Code reçu par courriel").fill(email_code(resources))
        page.get_by_role("button", name="Vérifier le code").click()
        page.wait_for_url("**/creation/compte/double-authentification")
    assert_accessible(page)
    key = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code de l’application").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Activer la connexion en deux étapes").click()
    page.wait_for_url("**/creation/adresse")
    assert_accessible(page)
    return key


def portal_steps(page: Any) -> None:
    """Steps 3 to 6, with one refusal shown next to its field on the way."""
    assert page.get_by_label("Identifiant de l’adresse").input_value() == "verberie"
    continue_(page, "**/creation/apparence")
    page.get_by_label("Couleur principale").fill("#ffff00")
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_load_state()
    assert page.locator("#error-primary").is_visible()
    assert_accessible(page)
    page.get_by_label("Couleur principale").fill("#1d4f91")
    continue_(page, "**/creation/services")
    continue_(page, "**/creation/facturation")
    assert "EUR" not in page.locator("main").inner_text()
    assert re.search(r"HT par an", page.locator("main").inner_text())
    page.get_by_label("SIRET de l’entité qui paie").fill("21600158600017")
    continue_(page, "**/creation/confirmation")


def test_a_council_signs_up_alone_and_lands_signed_in(
    browser: Any, linked_server: str, settings: Settings, resources: PlatformResources
) -> None:
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(f"http://{linked_server}/")
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("Créer le portail de ma collectivité")).first.click()
    page.wait_for_url("**/creation/collectivite")
    assert_accessible(page)
    page.get_by_label("Nom, code postal, code INSEE ou SIREN").fill("verberie")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url("**/creation/collectivite?q=verberie")
    assert_accessible(page)
    page.get_by_label(re.compile(r"^Verberie \(60")).check()
    continue_(page, "**/creation/compte")
    key = account_steps(page, resources)
    portal_steps(page)
    with running_worker(settings):
        page.get_by_role("button", name="Créer le portail").click()
        page.wait_for_url("**/creation/progression")
        assert_accessible(page)
        opening = page.get_by_role("button", name="Ouvrir mon portail")
        opening.wait_for(timeout=90_000)  # the htmx polling swaps it in
        assert_accessible(page)
    opening.click()
    page.wait_for_url(re.compile(rf"http://verberie\.{re.escape(linked_server)}/lien/"))
    assert_accessible(page)
    page.get_by_role("button", name=re.compile("Me connecter")).click()
    page.wait_for_url("**/connexion/code")
    assert_accessible(page)
    page.get_by_label("Code", exact=True).fill(pyotp.TOTP(key).at(time.time() + 30))
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url(f"http://verberie.{linked_server}/gestion/premiers-pas")
    assert_accessible(page)
    page.goto(f"http://verberie.{linked_server}/gestion/personnes")
    assert "Hélène Dupont" in page.locator("main").inner_text()
    context.close()
