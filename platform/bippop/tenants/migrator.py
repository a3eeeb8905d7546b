"""Migrating every tenant schema: bounded parallelism, one transaction per tenant, failures isolated.

A tenant's schema change and the revision recorded in ``platform.tenants`` commit
together, so a run killed at any point leaves each tenant either before or after
the change, and the next run picks up exactly the tenants still behind.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import structlog
from sqlalchemy import Connection, Engine, text

from bippop.db import chains
from bippop.tenants.naming import checked_identifier

log = structlog.get_logger(__name__)

# Tenants still provisioning are migrated by their provisioning job, not here.
MIGRATABLE_STATUSES = ("active", "suspended", "failed", "deleting")


@dataclasses.dataclass(frozen=True, slots=True)
class TenantRow:
    """A schema behind head: a tenant's, or a spare of the pool (``id`` None, ``slug`` = schema)."""

    kind: str
    id: uuid.UUID | None
    slug: str
    schema: str
    revision: str | None
    cluster: str = "main"


@dataclasses.dataclass
class MigrationReport:
    head: str
    migrated: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def tenants_behind(connection: Connection, head: str) -> list[TenantRow]:
    """The one query a run with nothing to do costs."""
    rows = connection.execute(
        text(
            "select 'tenant', id, slug, schema_name, revision, cluster from platform.tenants "
            "where revision is distinct from :head and status = any(:statuses) "
            "union all select 'spare', null, schema_name, schema_name, revision, 'main' "
            "from platform.spare_schemas where revision is distinct from :head order by 3"
        ),
        {"head": head, "statuses": list(MIGRATABLE_STATUSES)},
    )
    return [TenantRow(*row) for row in rows]


def schema_revision(connection: Connection) -> str | None:
    """The revision recorded inside the schema on the current search_path (None: never migrated): its
    heads joined by ``+`` when the chain has module branches, like ``chains.head``."""
    if connection.execute(text("select to_regclass('alembic_version')")).scalar() is None:
        return None
    return chains.joined(connection.execute(text("select version_num from alembic_version")).scalars())


def apply_to_schema(connection: Connection, schema: str) -> str:
    """Bring the schema to head inside the caller's transaction, from the revision it records itself."""
    head = chains.head("tenant")
    connection.execute(
        text("select set_config('search_path', :schema, true)"), {"schema": checked_identifier(schema)}
    )
    current = schema_revision(connection)
    if current != head:
        sql = chains.tenant_upgrade_sql(current)
        # Many statements, no parameters: psycopg sends them in one simple-protocol round trip.
        connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    return head


def record_revision(connection: Connection, tenant_id: uuid.UUID, head: str) -> None:
    connection.execute(
        text("update platform.tenants set revision = :head, updated_at = now() where id = :id"),
        {"head": head, "id": tenant_id},
    )


def migrate_schema(connection: Connection, tenant_id: uuid.UUID, schema: str) -> str:
    """A tenant on the platform's own cluster: schema change and record in one transaction."""
    # Locks the tenant's row: two migrators never work on one tenant at once.
    connection.execute(text("select 1 from platform.tenants where id = :id for update"), {"id": tenant_id})
    head = apply_to_schema(connection, schema)
    record_revision(connection, tenant_id, head)
    return head


def migrate_remote_schema(platform: Engine, cluster: Engine, tenant_id: uuid.UUID, schema: str) -> str:
    """A tenant on another cluster: its schema changes in one transaction there, then the record here.
    A crash between the two is repaired by the next run, which reads the schema's own revision."""
    with platform.begin() as record:
        record.execute(text("select 1 from platform.tenants where id = :id for update"), {"id": tenant_id})
        with cluster.begin() as connection:
            head = apply_to_schema(connection, schema)
        record_revision(record, tenant_id, head)
    return head


def migrate_spare(connection: Connection, schema: str) -> None:
    """Bring one spare schema to head inside the caller's transaction (a no-op if it was claimed meanwhile)."""
    head = chains.head("tenant")
    locked = connection.execute(
        text("select 1 from platform.spare_schemas where schema_name = :s for update"), {"s": schema}
    ).scalar()
    if not locked:
        return
    connection.execute(
        text("select set_config('search_path', :schema, true)"), {"schema": checked_identifier(schema)}
    )
    current = schema_revision(connection)
    if current != head:
        connection.connection.driver_connection.execute(chains.tenant_upgrade_sql(current))  # type: ignore[union-attr]
    connection.execute(
        text("update platform.spare_schemas set revision = :h where schema_name = :s"),
        {"h": head, "s": schema},
    )


def migrate_all(
    engine: Engine,
    *,
    concurrency: int,
    cluster_engine: Callable[[str], Engine] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[TenantRow, str | None], None] | None = None,
) -> MigrationReport:
    """Migrate every tenant behind head; ``on_done(row, error)`` is called as each one finishes."""
    started = time.perf_counter()
    head = chains.head("tenant")
    report = MigrationReport(head=head)
    with engine.connect() as connection:
        behind = tenants_behind(connection, head)
    if on_start:
        on_start(len(behind))
    if not behind:
        report.seconds = time.perf_counter() - started
        return report

    def one(row: TenantRow) -> None:
        if row.id is not None and row.cluster != "main" and cluster_engine is not None:
            migrate_remote_schema(engine, cluster_engine(row.cluster), row.id, row.schema)
            return
        with engine.begin() as connection:
            if row.id is None:
                migrate_spare(connection, row.schema)
            else:
                migrate_schema(connection, row.id, row.schema)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="migrate") as pool:
        futures = {pool.submit(one, row): row for row in behind}
        for future in as_completed(futures):
            row = futures[future]
            error = future.exception()
            if error is None:
                report.migrated.append(row.slug)
            else:
                message = describe_error(error)
                report.failed[row.slug] = message
                log.error("tenant_migration_failed", tenant=row.slug, error=message)
            if on_done:
                on_done(row, None if error is None else report.failed[row.slug])
    report.seconds = time.perf_counter() - started
    return report


def describe_error(error: BaseException) -> str:
    """One line for a person and the logs: the error's class and first line, bounded."""
    original = getattr(error, "orig", None) or error
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {first_line}"[:500]
