"""Tenancy benchmarks: what creating a tenant and a no-op `bippop migrate` cost, measured.

Run with ``make bench``. Each test prints a table and records its figures in
``tests/benchmarks/results/tenancy.json`` (git-ignored). The assertions are loose
sanity bounds; the figures are the point. Every figure comes with a baseline
measured in the same run, on the same server, so the ratios survive a slow or
busy machine better than the absolute numbers do.
"""

from __future__ import annotations

import functools
import time
import uuid
from pathlib import Path

import pytest
from reporting import ms, record, summary, table, timed
from sqlalchemy import Engine, event, text
from structlog.testing import capture_logs

from bippop.config import Settings
from bippop.db import chains
from bippop.runtime.operations import create_tenant, migrate_everything
from bippop.runtime.resources import PlatformResources
from bippop.tenants import pool
from bippop.tenants.migrator import migrate_all
from bippop.tenants.provisioning import provision
from bippop.tenants.services import TenantService

RESULTS = Path(__file__).parent / "results" / "tenancy.json"

COLD_RUNS = 20
WARM_RUNS = 20
FLEET_SIZE = 200
MIGRATE_RUNS = 5
ROUND_TRIPS = 50
CONCURRENCY = 4


# Helpers ----------------------------------------------------------------------------


def _tenant_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("select count(*) from platform.tenants")).scalar_one())


# 1. Provisioning one tenant -----------------------------------------------------------


@pytest.mark.benchmark
def test_cold_provisioning_against_plain_sql(settings: Settings, resources: PlatformResources) -> None:
    engine = resources.admin_engine
    pool.drop_spares(engine)  # cold: every tenant builds its schema from nothing
    # Rendering the tenant chain to SQL happens once per process; measured apart, then shared.
    render_seconds = timed(lambda: chains.tenant_upgrade_sql(None))
    sql = chains.tenant_upgrade_sql(None)
    run = uuid.uuid4().hex[:6]
    plain_schemas: list[str] = []

    def provision_one(i: int) -> None:
        tenant = create_tenant(
            settings, f"cold-{run}-{i:02d}", f"Froide {i}", "commune", "60159", check_official=False
        )
        assert tenant.status == "active", tenant.last_error

    def plain_one(i: int) -> None:
        schema = f"bench_plain_{run}_{i:02d}"
        plain_schemas.append(schema)
        with engine.begin() as connection:
            connection.execute(text(f'create schema "{schema}"'))
            connection.execute(text("select set_config('search_path', :s, true)"), {"s": schema})
            connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]

    provisioning: list[float] = []
    plain: list[float] = []
    try:
        # Interleaved, so a burst of noise on the machine lands on both series alike.
        with capture_logs():  # keeps the table readable: one log line per step otherwise
            for i in range(COLD_RUNS):
                provisioning.append(timed(functools.partial(provision_one, i)))
                plain.append(timed(functools.partial(plain_one, i)))
    finally:
        with engine.begin() as connection:
            for schema in plain_schemas:
                connection.execute(text(f'drop schema if exists "{schema}" cascade'))

    prov, base = summary(provisioning), summary(plain)
    ratio = prov["median_s"] / base["median_s"]
    record(
        RESULTS,
        "cold_provisioning",
        {
            "description": "create_tenant (register + provision: role, schema, full tenant chain, defaults), "
            "no spare pool, vs. create schema + tenant_upgrade_sql(None) in one transaction",
            "tenant_sql_render_s": render_seconds,
            "tenant_chain_head": chains.head("tenant"),
            "tenant_sql_create_tables": sql.lower().count("create table"),
            "provision": prov,
            "plain_sql_baseline": base,
            "ratio_median_provision_over_plain": ratio,
        },
        engine,
    )
    table(
        f"Cold provisioning, {COLD_RUNS} tenants (interleaved with the plain-SQL baseline)",
        ["", "min", "median", "p95", "max"],
        [
            ["register + provision", *(ms(prov[k]) for k in ("min_s", "median_s", "p95_s", "max_s"))],
            ["plain SQL (baseline)", *(ms(base[k]) for k in ("min_s", "median_s", "p95_s", "max_s"))],
        ],
        [
            f"ratio provision / plain SQL (medians): {ratio:.2f}x",
            f"rendering the tenant chain to SQL (once per process, excluded above): {ms(render_seconds).strip()}",
        ],
    )
    assert ratio < 10


@pytest.mark.benchmark
def test_warm_pool_tenant_creation(settings: Settings, resources: PlatformResources) -> None:
    """Issue goal: with a warm pool, tenant creation p95 under 0.2 s."""
    engine = resources.admin_engine
    run = uuid.uuid4().hex[:6]
    with capture_logs():
        pool.drop_spares(engine)
        fill_seconds = timed(lambda: pool.refill(engine, WARM_RUNS))
        samples = []
        for i in range(WARM_RUNS):

            def create(i: int = i) -> None:
                tenant = create_tenant(
                    settings, f"warm-{run}-{i:02d}", f"Chaude {i}", "commune", "60159", check_official=False
                )
                assert tenant.status == "active", tenant.last_error

            samples.append(timed(create))
    with engine.connect() as connection:
        assert pool.spares_at_head(connection) == 0  # every creation claimed a spare
    warm = summary(samples)
    record(
        RESULTS,
        "warm_pool_creation",
        {
            "description": "create_tenant with a spare schema available (claim = rename + defaults)",
            "creation": warm,
            "refill_seconds_for_pool": fill_seconds,
        },
        engine,
    )
    table(
        f"Tenant creation with a warm pool, {WARM_RUNS} tenants",
        ["", "min", "median", "p95", "max"],
        [["claim + defaults", *(ms(warm[k]) for k in ("min_s", "median_s", "p95_s", "max_s"))]],
        [f"refilling the pool with {WARM_RUNS} spares took {fill_seconds:.2f} s (done ahead, by a job)"],
    )
    assert warm["p95_s"] < 0.2


# 2. `bippop migrate` with nothing to do ---------------------------------------------------


def _fill_fleet(settings: Settings, resources: PlatformResources, size: int) -> tuple[int, float]:
    """Register and provision ``bench-NNNN`` tenants until ``size`` exist; returns (created, seconds)."""
    engine = resources.admin_engine
    started = time.perf_counter()
    created = 0
    number = 0
    missing = size - _tenant_count(engine)
    while missing > 0:
        number += 1
        slug = f"bench-{number:04d}"
        with resources.admin_sessions().begin() as session:
            service = TenantService(
                session, base_domain=settings.base_domain, host_cache=resources.host_cache
            )
            if service.by_slug(slug) is not None:
                continue
            tenant_id = service.register(
                slug=slug, name=f"Banc {number}", kind="commune", official_code="60159", check_official=False
            ).id
        status = provision(
            engine, tenant_id, base_domain=settings.base_domain, host_cache=resources.host_cache
        )
        assert status == "active"
        created += 1
        missing -= 1
    return created, time.perf_counter() - started


@pytest.mark.benchmark
def test_noop_migrate_at_200_tenants(settings: Settings, resources: PlatformResources) -> None:
    engine = resources.admin_engine
    with capture_logs():
        created, fill_seconds = _fill_fleet(settings, resources, FLEET_SIZE)
    tenants = _tenant_count(engine)
    assert tenants >= FLEET_SIZE

    # Baselines: one trivial round trip on an open connection, and with a pool checkout around it.
    with engine.connect() as connection:
        connection.execute(text("select 1"))
        round_trips = [
            timed(lambda: connection.execute(text("select 1")).scalar()) for _ in range(ROUND_TRIPS)
        ]

    def checkout_and_select() -> None:
        with engine.connect() as connection:
            connection.execute(text("select 1")).scalar()

    checkouts = [timed(checkout_and_select) for _ in range(ROUND_TRIPS)]

    # How many statements a no-op run sends (the promise: one).
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        report = migrate_all(engine, concurrency=CONCURRENCY)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert not report.migrated and not report.failed, report

    def noop_migrate_all() -> None:
        result = migrate_all(engine, concurrency=CONCURRENCY)
        assert not result.migrated and not result.failed

    def noop_migrate_everything() -> None:
        result = migrate_everything(settings, concurrency=CONCURRENCY)
        assert not result.migrated and not result.failed

    migrate_all_times: list[float] = []
    everything_times: list[float] = []
    for _ in range(MIGRATE_RUNS):
        migrate_all_times.append(timed(noop_migrate_all))
        everything_times.append(timed(noop_migrate_everything))

    trip, checkout = summary(round_trips), summary(checkouts)
    only_tenants, everything = summary(migrate_all_times), summary(everything_times)
    ratio_all = only_tenants["median_s"] / trip["median_s"]
    ratio_everything = everything["median_s"] / trip["median_s"]
    record(
        RESULTS,
        "noop_migrate",
        {
            "description": f"migrate_all / migrate_everything with every tenant at head, {tenants} tenants, "
            f"concurrency={CONCURRENCY}",
            "tenants": tenants,
            "tenants_created_for_the_run": created,
            "fleet_fill_s": fill_seconds,
            "statements_per_noop_migrate_all": len(statements),
            "select_1_round_trip": trip,
            "checkout_plus_select_1": checkout,
            "migrate_all": only_tenants,
            "migrate_everything": everything,
            "ratio_median_migrate_all_over_select_1": ratio_all,
            "ratio_median_migrate_everything_over_select_1": ratio_everything,
        },
        engine,
    )
    rows = [
        ["select 1 (open connection)", str(ROUND_TRIPS), ms(trip["median_s"]), ms(trip["max_s"]), "1.0x"],
        [
            "pool checkout + select 1",
            str(ROUND_TRIPS),
            ms(checkout["median_s"]),
            ms(checkout["max_s"]),
            f"{checkout['median_s'] / trip['median_s']:.1f}x",
        ],
        [
            "migrate_all (tenants only)",
            str(MIGRATE_RUNS),
            ms(only_tenants["median_s"]),
            ms(only_tenants["max_s"]),
            f"{ratio_all:.1f}x",
        ],
        [
            "migrate_everything (+ platform)",
            str(MIGRATE_RUNS),
            ms(everything["median_s"]),
            ms(everything["max_s"]),
            f"{ratio_everything:.1f}x",
        ],
    ]
    table(
        f"`bippop migrate` with nothing to do, {tenants} tenants, concurrency {CONCURRENCY}",
        ["", "runs", "median", "max", "vs select 1"],
        rows,
        [
            f"statements sent by one no-op migrate_all: {len(statements)}",
            f"fleet: {created} tenants created for this run in {fill_seconds:.1f} s",
        ],
    )
    assert only_tenants["median_s"] < 1.0
