"""`bippop migrate`: every tenant, one transaction each, a broken tenant named and isolated."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import event, text

from bippop.config import Settings
from bippop.db import chains
from bippop.runtime.operations import migrate_everything, resources_for
from bippop.tenants.context import TenantRef
from bippop.tenants.migrator import migrate_all
from support import make_tenant

CORE_HEAD = chains.own_head("tenant")  # the schemas' row of the core chain (the modules' rows stay)


@pytest.fixture(scope="module")
def three_tenants(settings: Settings) -> list[TenantRef]:
    return [make_tenant(settings, f"mig-{i}", f"Migration {i}") for i in range(3)]


def _force_behind(settings: Settings, slugs: list[str]) -> None:
    with resources_for(settings).admin_engine.begin() as connection:
        connection.execute(
            text("update platform.tenants set revision = null where slug = any(:s)"), {"s": slugs}
        )


def test_migrate_all_names_the_broken_tenant_and_migrates_the_others(
    settings: Settings, three_tenants: list[TenantRef]
) -> None:
    slugs = [t.slug for t in three_tenants]
    broken = three_tenants[1]
    _force_behind(settings, slugs)
    with resources_for(settings).admin_engine.begin() as connection:
        # A schema claiming a revision the code does not know: its migration must fail.
        connection.execute(
            text(
                f"update {broken.schema}.alembic_version set version_num = 'bogus1' where version_num = :core"
            ),
            {"core": CORE_HEAD},
        )
    report = migrate_everything(settings, concurrency=2)
    assert report.failed.keys() == {broken.slug}
    assert "bogus1" in report.failed[broken.slug]
    assert {slugs[0], slugs[2]} <= set(report.migrated)
    with resources_for(settings).admin_engine.connect() as connection:
        rows = connection.execute(
            text("select slug, revision from platform.tenants where slug = any(:s)"), {"s": slugs}
        )
        revisions = {slug: revision for slug, revision in rows}
    assert revisions == {slugs[0]: chains.head("tenant"), broken.slug: None, slugs[2]: chains.head("tenant")}

    # The CLI says the same and exits non-zero.
    from bippop import config

    runner = CliRunner()
    env = {
        "BIPPOP_DATABASE_URL": settings.database_url or "",
        "BIPPOP_DATABASE_ADMIN_URL": settings.database_admin_url or "",
        "BIPPOP_REDIS_URL": settings.redis_url or "",
        "BIPPOP_BASE_DOMAIN": settings.base_domain,
        "BIPPOP_VAR_DIR": str(settings.var_dir),
    }
    config.get_settings.cache_clear()
    try:
        from bippop.cli import main

        result = runner.invoke(main, ["migrate"], env=env)
    finally:
        config.get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert broken.slug in result.output
    assert "bogus1" in result.output

    # Mended, the next run migrates it and only it.
    with resources_for(settings).admin_engine.begin() as connection:
        connection.execute(
            text(f"update {broken.schema}.alembic_version set version_num = :h where version_num = 'bogus1'"),
            {"h": CORE_HEAD},
        )
    report = migrate_everything(settings)
    assert report.ok
    assert report.migrated == [broken.slug]


def test_nothing_to_do_is_one_query(settings: Settings, three_tenants: list[TenantRef]) -> None:
    migrate_everything(settings)
    engine = resources_for(settings).admin_engine
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        report = migrate_all(engine, concurrency=4)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert report.ok and report.migrated == []
    assert len(statements) == 1, statements
