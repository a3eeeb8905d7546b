"""The language of an accounts page is resolved once, before the handler makes any message (issue 10:
the ``locale`` dependency): a form's errors and the mails it writes are in the visitor's language, not
in the one the previous page of the process happened to leave behind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts.models import Person
from bippop.app import create_app
from bippop.config import Settings
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, host


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        yield client


def post_in_english(web: TestClient[Litestar], path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    # The form is fetched in French (the tenant's default), then the visitor switches to English.
    token = csrf_token(web, "alpha")
    web.cookies.set("bippop_lang", "en")
    return web.post(path, data={**data, "_csrf_token": token}, headers=host("alpha"), follow_redirects=False)


def test_sign_up_errors_are_in_the_visitors_language(web: TestClient[Litestar], tenant: TenantRef) -> None:
    refused = post_in_english(web, "/inscription", {"display_name": "", "email": "x", "role": "volunteer"})
    assert refused.status_code == 400
    assert "Enter the name you want to be called by." in refused.text
    assert "Saisissez le nom" not in refused.text


def test_sign_in_errors_are_in_the_visitors_language(web: TestClient[Litestar], tenant: TenantRef) -> None:
    refused = post_in_english(web, "/connexion", {"email": "", "password": ""})
    assert refused.status_code == 400
    assert "Enter your e-mail address." in refused.text and "Enter your password." in refused.text


def test_an_account_made_in_english_gets_its_mail_in_english(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    email = f"jane-{uuid.uuid4().hex[:6]}@example.org"
    form = {"display_name": "Jane", "email": email, "password": DEFAULT_PASSWORD, "role": "volunteer"}
    done = post_in_english(web, "/inscription", form)
    assert done.status_code == 200 and "Check your e-mail" in done.text
    with resources.sessions()(info={"tenant": tenant}) as session:
        person = session.scalars(select(Person).where(Person.email == email)).one()
        mail = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email)).one()
    assert person.locale == "en"
    assert mail.subject.startswith("Confirm your e-mail address")
