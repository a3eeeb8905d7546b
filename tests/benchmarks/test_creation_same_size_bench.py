"""Tenant creation with a tenant schema the size of the issue's reference: 25 tables, ~95 indexes.

django-tenants 4.0.1 took 0.9 s to create such a tenant on this kind of machine (issue #3); goals:
cold (no spare) no slower than that, warm (spare pool) p95 under 0.2 s.
"""

from __future__ import annotations

import functools
import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from reporting import p95, timed
from sqlalchemy import text
from structlog.testing import capture_logs

from bippop.config import Settings
from bippop.db import chains
from bippop.runtime.operations import create_tenant, migrate_platform, resources_for
from bippop.tenants import pool
from support import own_database

RUNS = 20
DJANGO_TENANTS_SECONDS = 0.9


def _write_wide_schema(folder: Path, down_revision: str) -> tuple[int, int]:
    """22 more tables, 4 secondary indexes each: 25 tables and 3 + 22 * 5 = 113 indexes with the base ones."""
    folder.mkdir(parents=True, exist_ok=True)
    body = []
    for i in range(22):
        body.append(
            f"""    op.create_table(
        "wide_{i:02d}",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("payload", sa.dialects.postgresql.JSONB(), nullable=False, server_default="{{}}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_wide_{i:02d}_person", "wide_{i:02d}", ["person_id"])
    op.create_index("ix_wide_{i:02d}_kind", "wide_{i:02d}", ["kind"])
    op.create_index("ix_wide_{i:02d}_status", "wide_{i:02d}", ["status", "created_at"])
    op.create_index("ix_wide_{i:02d}_created", "wide_{i:02d}", ["created_at"])
"""
        )
    (folder / "benchwide_tables.py").write_text(
        f'''"""Synthetic tables giving the tenant schema the size of the reference benchmark.

Revision ID: benchwide
Revises: {down_revision}
"""

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
from alembic import op

revision = "benchwide"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{"".join(body)}

def downgrade() -> None:
    pass
'''
    )
    return 25, 3 + 22 * 5


@pytest.fixture(scope="module")
def wide_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    assert settings.database_admin_url
    folder = tmp_path_factory.mktemp("wide") / "versions"
    _write_wide_schema(folder, chains.own_head("tenant"))
    chains.add_version_location("tenant", folder)
    with own_database(settings.database_admin_url, settings.database_url, "wide") as (app, admin):
        wide = settings.replace(database_url=app, database_admin_url=admin)
        try:
            migrate_platform(wide)
            yield wide
        finally:
            chains.clear_version_locations("tenant")
            resources_for(settings)


@pytest.mark.benchmark
def test_creation_with_a_reference_size_schema(wide_settings: Settings) -> None:
    engine = resources_for(wide_settings).admin_engine
    run = uuid.uuid4().hex[:6]

    def create(prefix: str, i: int) -> None:
        tenant = create_tenant(
            wide_settings, f"{prefix}-{run}-{i:02d}", f"Large {i}", "commune", "60159", check_official=False
        )
        assert tenant.status == "active"

    with capture_logs():
        pool.drop_spares(engine)
        cold = [timed(functools.partial(create, "wcold", i)) for i in range(RUNS)]
        refill_seconds = timed(lambda: pool.refill(engine, RUNS))
        warm = [timed(functools.partial(create, "wwarm", i)) for i in range(RUNS)]
    with engine.connect() as connection:
        tables = connection.execute(
            text("select count(*) from pg_tables where schemaname = :s"), {"s": f"t_wcold_{run}_00"}
        ).scalar()
        indexes = connection.execute(
            text("select count(*) from pg_indexes where schemaname = :s"), {"s": f"t_wcold_{run}_00"}
        ).scalar()
    print(f"\n== Tenant creation, schema of {tables} tables and {indexes} indexes, {RUNS} runs each ==")
    print(
        f"  cold (no spare): median {statistics.median(cold) * 1000:7.1f} ms, p95 {p95(cold) * 1000:7.1f} ms"
    )
    print(
        f"  warm (spare)   : median {statistics.median(warm) * 1000:7.1f} ms, p95 {p95(warm) * 1000:7.1f} ms"
    )
    print(
        f"  django-tenants reference: {DJANGO_TENANTS_SECONDS * 1000:.0f} ms; refilling {RUNS} spares: {refill_seconds:.2f} s"
    )
    assert tables == 25
    assert statistics.median(cold) < DJANGO_TENANTS_SECONDS
    assert p95(warm) < 0.2
