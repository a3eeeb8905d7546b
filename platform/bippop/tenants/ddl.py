"""DDL shared by provisioning and the spare pool: a tenant role, and a schema only that role can use."""

from __future__ import annotations

from sqlalchemy import Connection, text

from bippop.tenants.naming import quoted


def ensure_role(connection: Connection, role: str) -> None:
    exists = connection.execute(text("select 1 from pg_roles where rolname = :r"), {"r": role}).scalar()
    if not exists:
        connection.execute(text(f"create role {quoted(role)} nologin noinherit"))
    # The login role may switch to the tenant role (SET LOCAL ROLE) but does not inherit its rights.
    member = connection.execute(text("select pg_has_role(current_user, :r, 'MEMBER')"), {"r": role}).scalar()
    if not member:
        connection.execute(text(f"grant {quoted(role)} to current_user"))


def ensure_schema(connection: Connection, schema: str, role: str) -> None:
    s, r = quoted(schema), quoted(role)
    connection.execute(text(f"create schema if not exists {s}"))
    connection.execute(text(f"revoke all on schema {s} from public"))
    connection.execute(text(f"grant usage on schema {s} to {r}"))
    connection.execute(
        text(f"alter default privileges in schema {s} grant select, insert, update, delete on tables to {r}")
    )
    connection.execute(
        text(f"alter default privileges in schema {s} grant usage, select on sequences to {r}")
    )
    # Tables made before a crash, before the default privileges existed, get the same rights.
    connection.execute(text(f"grant select, insert, update, delete on all tables in schema {s} to {r}"))
    connection.execute(text(f"grant usage, select on all sequences in schema {s} to {r}"))
