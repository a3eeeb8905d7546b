"""The spare schema pool: instant tenant creation, race-free claims, fallback when empty."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bippop.config import Settings
from bippop.db import chains
from bippop.runtime.operations import create_tenant, migrate_everything, resources_for, show_tenant
from bippop.tenants import pool
from bippop.tenants.provisioning import provision
from bippop.tenants.services import TenantService
from support import BASE_DOMAIN, tenant_tables


@pytest.fixture
def empty_pool(settings: Settings) -> Iterator[None]:
    pool.drop_spares(resources_for(settings).admin_engine)
    yield
    pool.drop_spares(resources_for(settings).admin_engine)


def _spare_count(settings: Settings) -> int:
    with resources_for(settings).admin_engine.connect() as connection:
        return pool.spares_at_head(connection)


def _tables(settings: Settings, schema: str) -> set[str]:
    with resources_for(settings).admin_engine.connect() as connection:
        rows = connection.execute(
            text("select table_name from information_schema.tables where table_schema = :s"), {"s": schema}
        )
        return set(rows.scalars())


def test_refill_keeps_the_pool_at_its_size(settings: Settings, empty_pool: None) -> None:
    engine = resources_for(settings).admin_engine
    assert pool.refill(engine, 3) == 3
    assert pool.refill(engine, 3) == 0
    assert _spare_count(settings) == 3


def test_creating_a_tenant_claims_a_spare(settings: Settings, empty_pool: None) -> None:
    engine = resources_for(settings).admin_engine
    pool.refill(engine, 2)
    with engine.connect() as connection:
        spare_schema, spare_role = connection.execute(
            text("select schema_name, db_role from platform.spare_schemas order by created_at limit 1")
        ).one()
    tenant = create_tenant(settings, "pool-one", "Pool One", "commune", "04004")
    assert tenant.status == "active"
    assert tenant.revision == chains.head("tenant")
    assert _spare_count(settings) == 1
    assert _tables(settings, "t_pool_one") == tenant_tables()
    with engine.connect() as connection:
        assert connection.execute(text("select to_regnamespace(:s)"), {"s": spare_schema}).scalar() is None
        assert not connection.execute(
            text("select 1 from pg_roles where rolname = :r"), {"r": spare_role}
        ).scalar()
        # The renamed role kept its rights on the renamed schema, and nothing else.
        assert connection.execute(
            text("select has_schema_privilege(:r, 't_pool_one', 'USAGE')"), {"r": tenant.db_role}
        ).scalar()
        defaults = connection.execute(text("select count(*) from t_pool_one.settings")).scalar()
        assert defaults == 2


def test_empty_pool_falls_back_to_full_provisioning(settings: Settings, empty_pool: None) -> None:
    tenant = create_tenant(settings, "pool-cold", "Pool Cold", "commune", "04005")
    assert tenant.status == "active"
    assert _tables(settings, "t_pool_cold") == tenant_tables()


def test_concurrent_sign_ups_never_share_a_spare(settings: Settings, empty_pool: None) -> None:
    engine = resources_for(settings).admin_engine
    pool.refill(engine, 3)
    ids = []
    with resources_for(settings).admin_sessions().begin() as session:
        service = TenantService(session, base_domain=BASE_DOMAIN)
        for i in range(5):
            ids.append(
                service.register(
                    slug=f"rush-{i}",
                    name=f"Rush {i}",
                    kind="commune",
                    official_code="05005",
                    check_official=False,
                ).id
            )
    errors: list[BaseException] = []
    barrier = threading.Barrier(5)

    def sign_up(tenant_id: object) -> None:
        barrier.wait()
        try:
            provision(engine, tenant_id)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert _spare_count(settings) == 0  # three claimed, two built from nothing
    for i in range(5):
        assert show_tenant(settings, f"rush-{i}")["état"] == "active"
        assert _tables(settings, f"t_rush_{i}") == tenant_tables()


def test_spares_behind_head_are_migrated_with_the_tenants(settings: Settings, empty_pool: None) -> None:
    engine = resources_for(settings).admin_engine
    pool.refill(engine, 1)
    with engine.begin() as connection:
        connection.execute(text("update platform.spare_schemas set revision = null"))
    assert _spare_count(settings) == 0
    report = migrate_everything(settings)
    assert report.ok
    assert _spare_count(settings) == 1
