"""A co-op staff member signed in on the console (password and second factor), for the console's
integration tests: ``console = staff_console(settings, resources, role="coop_admin")`` gives a test
client on the co-op host with ``console.csrf`` for forms and ``console.staff_id``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyotp
from litestar.testing import TestClient

from bippop.accounts import mfa
from bippop.accounts.passwords import hash_password
from bippop.accounts.staff_models import Staff, StaffRecoveryCode
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from support import BASE_DOMAIN

COOP_HOST = f"coop.{BASE_DOMAIN}"
COOP = {"Host": COOP_HOST}
STAFF_PASSWORD = "lanterne violette brouette 71"


def make_staff(
    resources: PlatformResources, settings: Settings, role: str = "coop_admin"
) -> tuple[Staff, str]:
    """A staff member with the second factor on; (the account, its TOTP secret)."""
    with resources.admin_sessions()() as session, session.begin():
        staff = Staff(
            id=uuid.uuid4(),
            display_name="Dominique Console",
            email=f"staff-{uuid.uuid4().hex[:8]}@coop.example.org",
            password_hash=hash_password(STAFF_PASSWORD),
            roles=[role],
        )
        session.add(staff)
        session.flush()
        key = settings.effective_secret_key()
        secret = mfa.start_enrollment(staff, key)
        earlier = time.time() - 120  # the enrolment's code is not the one used to sign in
        mfa.confirm_enrollment(
            session, staff, pyotp.TOTP(secret).at(earlier), key, earlier, code_model=StaffRecoveryCode
        )
        session.expunge(staff)
    return staff, secret


class Console:
    """A test client signed in on the co-op host."""

    def __init__(self, client: TestClient[Any], staff: Staff) -> None:
        self.client = client
        self.staff_id = staff.id
        self.email = staff.email

    @property
    def csrf(self) -> str:
        return str(self.client.cookies.get("csrftoken"))

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=COOP, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(path, data={**(data or {}), "_csrf_token": self.csrf}, headers=COOP, **kwargs)


@contextmanager
def staff_console(
    settings: Settings, resources: PlatformResources, role: str = "coop_admin", lang: str = "en"
) -> Iterator[Console]:
    """Sign a new staff member of ``role`` in (the console's pages in ``lang``)."""
    staff, secret = make_staff(resources, settings, role)
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        client.cookies.set("bippop_lang", lang)
        client.get("/connexion", headers=COOP)
        token = str(client.cookies.get("csrftoken"))
        first = client.post(
            "/connexion",
            data={"email": staff.email, "password": STAFF_PASSWORD, "_csrf_token": token},
            headers=COOP,
            follow_redirects=False,
        )
        assert first.status_code == 303 and first.headers["location"] == "/connexion/code", first.text
        second = client.post(
            "/connexion/code",
            data={"code": pyotp.TOTP(secret).now(), "_csrf_token": token},
            headers=COOP,
            follow_redirects=False,
        )
        assert second.status_code == 303, second.text
        yield Console(client, staff)
