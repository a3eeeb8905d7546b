"""Two PostgreSQL clusters at once: tenants placed on either, served together, moved between them.

The second cluster is always a second embedded server: roles are cluster-wide, so
two databases of one server would not be two clusters.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from bippop.accounts.models import Person
from bippop.config import Settings
from bippop.db.engine import sqlalchemy_url
from bippop.runtime.operations import (
    create_tenant,
    migrate_everything,
    move_tenant,
    resources_for,
    show_tenant,
)
from bippop.runtime.resources import PlatformResources, use_resources
from bippop.storage import TenantFiles, storage_from_settings
from bippop.tenants import lifecycle
from bippop.tenants.context import TenantRef
from bippop.tenants.errors import TenantError
from support import BASE_DOMAIN, host


@pytest.fixture(scope="module")
def second_cluster() -> Iterator[tuple[str, str]]:
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="bippop-test-pg2-"))
    server = pgserver.get_server(folder / "data", cleanup_mode="delete")
    admin = sqlalchemy_url(server.get_uri())
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text('create role "bippop_app_second" login noinherit nosuperuser nobypassrls'))
    engine.dispose()
    app = make_url(admin).set(username="bippop_app_second").render_as_string(hide_password=False)
    try:
        yield app, admin
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def two(settings: Settings, second_cluster: tuple[str, str]) -> Iterator[Settings]:
    app, admin = second_cluster
    both = settings.replace(clusters=json.dumps({"second": {"url": app, "admin_url": admin}}))
    use_resources(PlatformResources(both))
    migrate_everything(both)
    yield both
    use_resources(PlatformResources(settings))


def _schemas(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(text("select nspname from pg_namespace where nspname like 't\\_%'")).scalars()
        )


def _add_volunteer(settings: Settings, tenant: TenantRef) -> None:
    with resources_for(settings).tenant_session(tenant) as session, session.begin():
        session.add(Person(id=uuid.uuid4(), display_name=f"Bénévole {tenant.slug}", roles=["volunteer"]))


async def test_tenants_on_two_clusters_are_served_together(two: Settings) -> None:
    nord = create_tenant(two, "nord", "Nordville", "commune", "59350").ref()
    sud = create_tenant(two, "sud", "Sudville", "commune", "13055", cluster="second").ref()
    assert (nord.cluster, sud.cluster) == ("main", "second")
    resources = resources_for(two)
    assert "t_sud" in _schemas(resources.admin_engine_for("second"))
    assert "t_sud" not in _schemas(resources.admin_engine)
    assert "t_nord" in _schemas(resources.admin_engine)
    _add_volunteer(two, sud)
    # On the second cluster too, the app's login role reaches the schema only through the tenant's role.
    app_url = json.loads(two.clusters or "{}")["second"]["url"]
    plain = create_engine(app_url)
    with plain.connect() as connection, pytest.raises(Exception, match="permission denied"):
        connection.execute(text("select * from t_sud.people")).all()
    plain.dispose()

    from bippop.app import create_app

    async with AsyncTestClient(create_app(two), base_url=f"http://{BASE_DOMAIN}") as client:
        north = await client.get("/", headers=host("nord"))
        south = await client.get("/", headers=host("sud"))
        ready = await client.get("/readyz")
    assert north.status_code == south.status_code == 200
    assert "Nordville" in north.text and "Sudville" in south.text
    assert "1 bénévole" in south.text and "0 bénévole" in north.text
    assert ready.status_code == 200

    # The tenant on the other cluster is migrated like any other.
    with resources.admin_engine.begin() as connection:
        connection.execute(text("update platform.tenants set revision = null where slug = 'sud'"))
    report = migrate_everything(two)
    assert report.ok and "sud" in report.migrated
    assert show_tenant(two, "sud")["révision"] != "—"


async def test_moving_a_tenant_keeps_its_data_and_frees_the_old_cluster(
    two: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = create_tenant(two, "voyage", "Voyageville", "commune", "75056").ref()
    _add_volunteer(two, tenant)
    TenantFiles(storage_from_settings(two), tenant).put("charte.txt", b"Charte des benevoles")
    seen_during_copy: list[str] = []
    original_load = lifecycle.load_into

    def watching_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen_during_copy.append(show_tenant(two, "voyage")["état"])
        return original_load(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "load_into", watching_load)
    move_tenant(two, "voyage", "second")
    assert seen_during_copy == ["moving"]  # the portal was closed while the data was copied
    resources = resources_for(two)
    assert "t_voyage" in _schemas(resources.admin_engine_for("second"))
    assert "t_voyage" not in _schemas(resources.admin_engine)
    moved = show_tenant(two, "voyage")
    assert moved["état"] == "active"

    from bippop.app import create_app

    async with AsyncTestClient(create_app(two), base_url=f"http://{BASE_DOMAIN}") as client:
        page = await client.get("/", headers=host("voyage"))
    assert page.status_code == 200 and "1 bénévole" in page.text
    assert TenantFiles(storage_from_settings(two), tenant).get("charte.txt") == b"Charte des benevoles"
    with pytest.raises(TenantError, match="déjà"):
        move_tenant(two, "voyage", "second")


def test_a_failed_move_leaves_the_tenant_where_it_was(two: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = create_tenant(two, "reste", "Resteville", "commune", "69123").ref()
    _add_volunteer(two, tenant)

    def broken_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("network cut during the copy")

    monkeypatch.setattr(lifecycle, "load_into", broken_load)
    with pytest.raises(RuntimeError, match="network cut"):
        move_tenant(two, "reste", "second")
    resources = resources_for(two)
    assert "t_reste" in _schemas(resources.admin_engine)
    assert "t_reste" not in _schemas(resources.admin_engine_for("second"))
    info = show_tenant(two, "reste")
    assert info["état"] == "active"
    with resources.admin_engine.connect() as connection:
        assert (
            connection.execute(text("select cluster from platform.tenants where slug = 'reste'")).scalar()
            == "main"
        )
