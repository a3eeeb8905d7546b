"""The spare schema pool: tenant schemas provisioned and migrated before anyone signs up.

A refill job keeps ``BIPPOP_SPARE_POOL_SIZE`` spares at head. Creating a tenant
claims one inside a single transaction (``FOR UPDATE SKIP LOCKED``: two sign-ups
at the same instant never take the same spare) and renames its schema and role
to the tenant's; renames keep every grant and default privilege, since those
hang on object ids, not names. With no spare at head, provisioning falls back
to building the schema from nothing.
"""

from __future__ import annotations

import secrets

import structlog
from sqlalchemy import Connection, Engine, text

from bippop.db import chains
from bippop.tenants.ddl import ensure_role, ensure_schema
from bippop.tenants.naming import checked_identifier, quoted, role_for

log = structlog.get_logger(__name__)

SPARE_PREFIX = "spare_"


def create_spare(engine: Engine) -> str:
    """Build one spare schema at head, in one transaction; returns its name."""
    head = chains.head("tenant")
    with engine.begin() as connection:
        database = connection.execute(text("select current_database()")).scalar_one()
        schema = checked_identifier(SPARE_PREFIX + secrets.token_hex(6))
        role = role_for(schema, database)
        ensure_role(connection, role)
        ensure_schema(connection, schema, role)
        connection.execute(text("select set_config('search_path', :s, true)"), {"s": schema})
        connection.connection.driver_connection.execute(chains.tenant_upgrade_sql(None))  # type: ignore[union-attr]
        connection.execute(
            text("insert into platform.spare_schemas (schema_name, db_role, revision) values (:s, :r, :h)"),
            {"s": schema, "r": role, "h": head},
        )
    return schema


def spares_at_head(connection: Connection) -> int:
    return int(
        connection.execute(
            text("select count(*) from platform.spare_schemas where revision = :h"),
            {"h": chains.head("tenant")},
        ).scalar_one()
    )


def refill(engine: Engine, size: int) -> int:
    """Top the pool up to ``size`` spares at head; returns how many were created."""
    with engine.connect() as connection:
        missing = size - spares_at_head(connection)
    created = 0
    for _ in range(max(0, missing)):
        create_spare(engine)
        created += 1
    if created:
        log.info("spare_pool_refilled", created=created, size=size)
    return created


def claim(connection: Connection, schema: str, role: str) -> str | None:
    """Turn a spare into ``schema``/``role`` inside the caller's transaction; returns its revision, or None."""
    if connection.execute(text("select to_regnamespace(:s)"), {"s": schema}).scalar() is not None:
        return None  # a previous attempt already made this tenant's schema: finish that one instead
    if connection.execute(text("select 1 from pg_roles where rolname = :r"), {"r": role}).scalar():
        return None
    spare = connection.execute(
        text(
            "select schema_name, db_role, revision from platform.spare_schemas where revision = :h "
            "order by created_at limit 1 for update skip locked"
        ),
        {"h": chains.head("tenant")},
    ).one_or_none()
    if spare is None:
        return None
    spare_schema, spare_role, revision = spare
    connection.execute(text(f"alter schema {quoted(spare_schema)} rename to {quoted(schema)}"))
    connection.execute(text(f"alter role {quoted(spare_role)} rename to {quoted(role)}"))
    connection.execute(text("delete from platform.spare_schemas where schema_name = :s"), {"s": spare_schema})
    return str(revision)


def drop_spares(engine: Engine) -> int:
    """Remove every spare (operators shrinking the pool, tests)."""
    with engine.begin() as connection:
        rows = connection.execute(
            text("delete from platform.spare_schemas returning schema_name, db_role")
        ).all()
        for schema, role in rows:
            connection.execute(text(f"drop schema if exists {quoted(schema)} cascade"))
            connection.execute(text(f"drop role if exists {quoted(role)}"))
    return len(rows)
