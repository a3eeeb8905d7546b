"""Walking the councils' onboarding wizard through the real app, step by step (shared by the wizard's
integration tests)."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from litestar.testing import TestClient
from sqlalchemy import select

from bippop import collectivities
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.store import COOKIE, secret_hash
from bippop.outbox.models import PlatformOutboxMessage
from support import BASE_DOMAIN

PASSWORD = "cheval agrafe pile correcte 42"
VALID_SIRET = "21600158600017"  # SIREN 216001586 (Compiègne) and a Luhn-valid establishment number


def choice_of(name: str, departement: str) -> str:
    found = [c for c in collectivities.search(name, limit=20) if c.departement == departement]
    assert found, f"{name} ({departement}) not in the list"
    return f"{found[0].kind}:{found[0].code}"


class Wizard:
    """A browser (test client) going through the wizard on the public host."""

    def __init__(self, client: TestClient[Any], resources: Any) -> None:
        self.client = client
        self.resources = resources
        self.totp: str | None = None

    @property
    def csrf(self) -> str:
        if not self.client.cookies.get("csrftoken"):
            self.client.get("/creation/collectivite?q=60159")  # a page with a form: its token's cookie
        return str(self.client.cookies.get("csrftoken"))

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, data={**(data or {}), "_csrf_token": self.csrf}, follow_redirects=False)

    def get(self, path: str) -> Any:
        return self.client.get(path, follow_redirects=False)

    def signup(self) -> Signup:
        secret = self.client.cookies.get(COOKIE, path="/creation")
        with self.resources.sessions()() as session:
            found = session.scalar(select(Signup).where(Signup.secret_hash == secret_hash(secret or "")))
            assert found is not None
            session.expunge(found)
            return found

    def last_mail(self, recipient: str) -> PlatformOutboxMessage:
        with self.resources.sessions()() as session:
            message = session.scalars(
                select(PlatformOutboxMessage)
                .where(PlatformOutboxMessage.recipient == recipient)
                .order_by(PlatformOutboxMessage.created_at.desc())
            ).first()
            assert message is not None, f"no platform mail to {recipient}"
            session.expunge(message)
            return message

    def choose(self, choice: str) -> Any:
        return self.post("/creation/collectivite", {"choice": choice})

    def account(self, email: str, password: str = PASSWORD, name: str = "Claire Martin") -> Any:
        return self.post(
            "/creation/compte",
            {"display_name": name, "email": email, "password": password, "statement": "yes"},
        )

    def email_code(self, email: str) -> str:
        found = re.search(r"\b(\d{6})\b", self.last_mail(email).body)
        assert found
        return found.group(1)

    def enrol_totp(self) -> Any:
        page = self.get("/creation/compte/double-authentification")
        assert page.status_code == 200, page.text
        found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
        assert found, page.text
        self.totp = found.group(1)
        return self.post("/creation/compte/double-authentification", {"code": pyotp.TOTP(self.totp).now()})

    def through_account(self, email: str) -> None:
        assert self.account(email).headers["location"] == "/creation/compte/code"
        response = self.post("/creation/compte/code", {"code": self.email_code(email)})
        assert response.headers["location"] == "/creation/compte/double-authentification", response.text
        assert self.enrol_totp().headers["location"] == "/creation/adresse"

    def billing(self, **changes: str) -> Any:
        data = {
            "plan": "standard",
            "legal_name": "Commune",
            "siret": VALID_SIRET,
            "service_code": "SERV-01",
            "engagement_required": "yes",
            "engagement_number": "",
            "contact_name": "Paul Compta",
            "contact_email": "compta@example.org",
            "contact_phone": "03 44 40 72 00",
            **changes,
        }
        return self.post("/creation/facturation", data)

    def to_confirm(self, choice: str, email: str, slug: str) -> None:
        """Every step up to the confirmation page, each answered right."""
        assert self.choose(choice).headers["location"] == "/creation/compte"
        self.through_account(email)
        assert self.post("/creation/adresse", {"slug": slug}).headers["location"] == "/creation/apparence"
        branding = {"theme": "base", "primary": "#1d4f91", "accent": "", "tagline": "Ensemble"}
        assert self.post("/creation/apparence", branding).headers["location"] == "/creation/services"
        modules = self.get("/creation/services")
        slugs = re.findall(r'name="modules" id="module-[^"]+" value="([^"]+)"', modules.text)
        assert slugs
        self.modules = slugs
        assert (
            self.post("/creation/services", {"modules": slugs}).headers["location"] == "/creation/facturation"
        )
        response = self.billing()
        assert response.status_code == 303, re.findall(r'class="error"[^>]*>(.*?)</p>', response.text, re.S)
        assert response.headers["location"] == "/creation/confirmation"

    def wait_for(self, status: str, timeout: float = 90) -> Signup:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            signup = self.signup()
            if signup.status == status:
                return signup
            time.sleep(0.3)
        raise AssertionError(f"sign-up still {self.signup().status}, last error {self.signup().last_error}")


def public_client(app: Any) -> TestClient[Any]:
    return TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"})
