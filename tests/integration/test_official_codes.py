"""A tenant's official code is in the official list and used once on the platform (``tenants/official.py``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bippop.config import Settings
from bippop.runtime.operations import resources_for
from bippop.tenants.errors import TenantError
from bippop.tenants.models import Tenant
from bippop.tenants.services import TenantService
from support import BASE_DOMAIN, free_commune_code

PREFIX = "officiel-"


@pytest.fixture(autouse=True)
def cleanup(settings: Settings) -> Iterator[None]:
    """The tenants these tests register stay pending (never provisioned): gone after each test."""
    yield
    with resources_for(settings).admin_engine.begin() as connection:
        connection.execute(text("delete from platform.tenants where starts_with(slug, :p)"), {"p": PREFIX})


def _register(settings: Settings, slug: str, kind: str, code: str, **kwargs: object) -> Tenant:
    with resources_for(settings).admin_sessions().begin() as session:
        service = TenantService(session, base_domain=BASE_DOMAIN)
        return service.register(
            slug=PREFIX + slug,
            name=slug.title(),
            kind=kind,
            official_code=code,
            **kwargs,  # type: ignore[arg-type]
        )


def _set_status(settings: Settings, slug: str, status: str) -> None:
    with resources_for(settings).admin_engine.begin() as connection:
        connection.execute(
            text("update platform.tenants set status = :s where slug = :slug"),
            {"s": status, "slug": PREFIX + slug},
        )


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("commune", "12"),
        ("commune", "99999"),
        ("epci", "60159"),
        ("departement", "20"),
        ("commune", "216001586"),
    ],
)
def test_a_code_not_in_the_official_list_is_refused_naming_what_was_typed(
    settings: Settings, kind: str, code: str
) -> None:
    with pytest.raises(TenantError) as error:
        _register(settings, "inconnu", kind, code)
    assert error.value.field == "official_code" and error.value.code == "unknown"
    assert f"« {code} »" in str(error.value) and "liste officielle" in str(error.value)


def test_official_codes_of_every_kind_are_accepted_as_the_list_spells_them(settings: Settings) -> None:
    assert _register(settings, "epci", "epci", "200067965").official_code == "200067965"
    assert _register(settings, "corse", "departement", "2a").official_code == "2A"
    assert _register(settings, "ain", "departement", " 1 ").official_code == "01"
    assert _register(settings, "commune", "commune", free_commune_code(settings)).kind == "commune"


def test_a_code_already_on_the_platform_is_refused(settings: Settings, tenant: object) -> None:
    code = free_commune_code(settings)
    _register(settings, "premier", "commune", code)
    with pytest.raises(TenantError) as error:
        _register(settings, "second", "commune", code)
    assert error.value.field == "official_code" and error.value.code == "taken"
    assert f"code {code}" in str(error.value) and f"« {PREFIX}premier »" in str(error.value)
    # Whatever its state, short of being deleted: a suspended or failed tenant keeps its code.
    for status in ("suspended", "failed", "active"):
        _set_status(settings, "premier", status)
        with pytest.raises(TenantError, match="déjà son portail"):
            _register(settings, "second", "commune", code)


def test_the_code_of_a_tenant_being_deleted_is_free_again(settings: Settings) -> None:
    code = free_commune_code(settings)
    _register(settings, "partant", "commune", code)
    _set_status(settings, "partant", "deleting")
    assert _register(settings, "successeur", "commune", code).official_code == code


def test_without_the_check_any_well_formed_code_goes(settings: Settings) -> None:
    _register(settings, "essai-a", "commune", "05005", check_official=False)
    assert _register(settings, "essai-b", "commune", "05005", check_official=False).official_code == "05005"
    with pytest.raises(TenantError, match="Code officiel invalide"):
        _register(settings, "essai-c", "commune", "60-159", check_official=False)


def _waiting_for_an_advisory_lock(settings: Settings) -> bool:
    with resources_for(settings).admin_engine.connect() as connection:
        return bool(
            connection.execute(
                text("select count(*) from pg_locks where locktype = 'advisory' and not granted")
            ).scalar()
        )


def test_two_sign_ups_for_the_same_commune_at_once_cannot_both_pass(settings: Settings) -> None:
    """The first holds its transaction open after registering; the second, on its own connection,
    waits on the lock instead of reading "free", then sees the first's row once it commits."""
    code = free_commune_code(settings)
    registered, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with resources_for(settings).admin_sessions().begin() as session:
            TenantService(session, base_domain=BASE_DOMAIN).register(
                slug=PREFIX + "course-a", name="Course A", kind="commune", official_code=code
            )
            registered.set()
            release.wait(30)
        outcome["first"] = "committed"

    def second() -> None:
        registered.wait(30)
        try:
            _register(settings, "course-b", "commune", code)
            outcome["second"] = "registered"
        except TenantError as exc:
            outcome["second"] = exc.code

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while not _waiting_for_an_advisory_lock(settings) and time.monotonic() < deadline:
        time.sleep(0.02)
    waited = _waiting_for_an_advisory_lock(settings)
    release.set()
    for thread in threads:
        thread.join(30)
    assert waited, "the second registration did not wait for the first"
    assert outcome == {"first": "committed", "second": "taken"}
    with resources_for(settings).admin_engine.connect() as connection:
        count = connection.execute(
            text("select count(*) from platform.tenants where kind = 'commune' and official_code = :c"),
            {"c": code},
        ).scalar()
    assert count == 1


def test_many_sign_ups_at_the_same_instant_leave_one_tenant(settings: Settings) -> None:
    code = free_commune_code(settings)
    barrier = threading.Barrier(4)
    results: list[str] = []

    def sign_up(number: int) -> None:
        barrier.wait()
        try:
            _register(settings, f"ruee-{number}", "commune", code)
            results.append("registered")
        except TenantError as exc:
            results.append(str(exc.code))

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["registered", "taken", "taken", "taken"]
