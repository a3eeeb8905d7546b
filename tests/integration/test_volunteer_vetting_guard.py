"""A volunteer not vetted to a module's level cannot reach its requests by id: the request page and the
message form answer 404, exactly as for an id that does not exist, and nothing is written to the person.
A volunteer vetted to the level opens the same request and writes. ``admin_help`` needs level 2."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from bippop.accounts.models import Person
from bippop.aid.models import HelpRequest, RequestMessage
from bippop.app import create_app
from bippop.config import Settings
from bippop.modules.registry import installed_modules
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, host, make_person

EN = {"bippop_lang": "en"}
NEAR = {"latitude": 49.417, "longitude": 2.826}
MODULE = "admin_help"
BENEFICIARY_NAME = "Odette Vetting-Guard"


@pytest.fixture(scope="module")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def web(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}", cookies=EN) as client:
        yield client


def _person(resources: PlatformResources, tenant: TenantRef, roles: list[str], **values: object) -> str:
    person_id, email, _ = make_person(resources, tenant, roles, name=str(values.pop("name", "Test Person")))
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.execute(update(Person).where(Person.id == person_id).values(**values, **NEAR))
    return email


def _open_request(resources: PlatformResources, tenant: TenantRef) -> uuid.UUID:
    email = _person(resources, tenant, ["beneficiary"], name=BENEFICIARY_NAME, phone="06 12 34 56 78")
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        beneficiary_id = session.scalar(select(Person.id).where(Person.email == email))
        request = HelpRequest(
            id=uuid.uuid4(),
            module=MODULE,
            beneficiary_id=beneficiary_id,
            created_by=beneficiary_id,
            created_as="beneficiary",
            status="open",
            details={"administration": "caf", "topic": "Dossier APL"},
            duration_minutes=90,
            **NEAR,
        )
        session.add(request)
    return request.id


def _sign_in(web: TestClient[Litestar], email: str) -> None:
    token = csrf_token(web, "alpha")
    response = web.post(
        "/connexion",
        data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token},
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _write(web: TestClient[Litestar], request_id: uuid.UUID, body: str):  # type: ignore[no-untyped-def]
    return web.post(
        f"/benevole/demandes/{request_id}/message",
        data={"body": body, "_csrf_token": web.cookies.get("csrftoken")},
        headers=host("alpha"),
        follow_redirects=False,
    )


def _messages(resources: PlatformResources, tenant: TenantRef, request_id: uuid.UUID) -> list[str]:
    with resources.sessions()(info={"tenant": tenant}) as session:
        return list(
            session.scalars(select(RequestMessage.body).where(RequestMessage.request_id == request_id))
        )


def test_the_module_needs_more_than_a_first_check() -> None:
    assert installed_modules()[MODULE].matching.vetting_level == 2


@pytest.mark.parametrize(
    "vetting",
    [
        pytest.param({"vetting_level": 1}, id="vetted-below-the-level"),
        pytest.param(
            {"vetting_level": 2, "vetted_until": datetime.date.today() - datetime.timedelta(days=1)},
            id="vetting-expired",
        ),
    ],
)
def test_a_volunteer_below_the_level_finds_nothing_by_id(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef, vetting: dict[str, object]
) -> None:
    request_id = _open_request(resources, tenant)
    _sign_in(web, _person(resources, tenant, ["volunteer"], skills=["admin_formalities"], **vetting))
    missing = uuid.uuid4()

    assert f"/benevole/demandes/{request_id}" not in web.get("/benevole", headers=host("alpha")).text
    page = web.get(f"/benevole/demandes/{request_id}", headers=host("alpha"))
    nowhere = web.get(f"/benevole/demandes/{missing}", headers=host("alpha"))
    assert page.status_code == nowhere.status_code == 404
    assert BENEFICIARY_NAME.split()[0] not in page.text and "Dossier APL" not in page.text

    written = _write(web, request_id, "Bonjour, je peux passer demain ?")
    assert written.status_code == _write(web, missing, "Bonjour").status_code == 404
    assert _messages(resources, tenant, request_id) == []


def test_a_volunteer_vetted_to_the_level_opens_it_and_writes(
    web: TestClient[Litestar], resources: PlatformResources, tenant: TenantRef
) -> None:
    request_id = _open_request(resources, tenant)
    _sign_in(web, _person(resources, tenant, ["volunteer"], vetting_level=2, skills=["admin_formalities"]))

    page = web.get(f"/benevole/demandes/{request_id}", headers=host("alpha"))
    assert page.status_code == 200 and BENEFICIARY_NAME.split()[0] in page.text
    written = _write(web, request_id, "Bonjour, je peux passer demain ?")
    assert written.status_code == 303
    assert _messages(resources, tenant, request_id) == ["Bonjour, je peux passer demain ?"]
