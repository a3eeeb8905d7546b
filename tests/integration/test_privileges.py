"""The database's own catalog says who can reach what; read it for every tenant.

The application's login role is not a superuser, cannot bypass RLS, inherits
nothing, owns nothing in tenant schemas and reaches a tenant schema only by
switching to that tenant's role; each tenant role reaches its own schema only,
and nothing of ``platform``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from bippop.config import Settings
from bippop.runtime.operations import app_login_role, resources_for
from bippop.tenants.context import TenantRef


def test_app_login_role_is_unprivileged(
    settings: Settings, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    app = app_login_role(settings)
    with resources_for(settings).admin_engine.connect() as connection:
        flags = connection.execute(
            text(
                "select rolsuper, rolbypassrls, rolinherit, rolcreaterole, rolcreatedb "
                "from pg_roles where rolname = :r"
            ),
            {"r": app},
        ).one()
        assert tuple(flags) == (False, False, False, False, False)
        owned = connection.execute(
            text(
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where pg_get_userbyid(c.relowner) = :r"
            ),
            {"r": app},
        ).scalar()
        assert owned == 0
        owned_schemas = connection.execute(
            text("select count(*) from pg_namespace where pg_get_userbyid(nspowner) = :r"), {"r": app}
        ).scalar()
        assert owned_schemas == 0


def test_every_tenant_schema_is_reached_only_through_its_own_role(
    settings: Settings, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    app = app_login_role(settings)
    with resources_for(settings).admin_engine.connect() as connection:
        tenants = connection.execute(
            # A tenant still pending (registered, not provisioned: its job not run yet) has no role yet.
            text(
                "select slug, schema_name, db_role from platform.tenants "
                "where cluster = 'main' and status <> 'pending'"
            )
        ).all()
        spares = connection.execute(text("select schema_name, db_role from platform.spare_schemas")).all()
        assert len(tenants) >= 2
        schemas = {schema for _, schema, _ in tenants} | {schema for schema, _ in spares}
        for slug, schema, role in tenants:
            role_flags = connection.execute(
                text("select rolsuper, rolcanlogin, rolbypassrls from pg_roles where rolname = :r"),
                {"r": role},
            ).one()
            assert tuple(role_flags) == (False, False, False), slug
            # The app may switch to the role, but holds none of its rights itself.
            assert connection.execute(
                text("select pg_has_role(:a, :r, 'MEMBER')"), {"a": app, "r": role}
            ).scalar()
            assert not connection.execute(
                text("select pg_has_role(:a, :r, 'USAGE')"), {"a": app, "r": role}
            ).scalar()
            assert not connection.execute(
                text("select has_schema_privilege(:a, :s, 'USAGE')"), {"a": app, "s": schema}
            ).scalar(), slug
            reachable = set(
                connection.execute(
                    text(
                        "select nspname from pg_namespace where has_schema_privilege(:r, oid, 'USAGE') "
                        "and nspname = any(:all)"
                    ),
                    {"r": role, "all": [*schemas, "platform"]},
                ).scalars()
            )
            assert reachable == {schema}, slug
            # Tables belong to the migrator, not to the tenant role: it cannot alter or drop them.
            owners = set(
                connection.execute(
                    text("select distinct tableowner from pg_tables where schemaname = :s"), {"s": schema}
                ).scalars()
            )
            assert role not in owners and app not in owners, slug
            assert not connection.execute(
                text("select pg_has_role(:r, 'pg_read_all_data', 'MEMBER')"), {"r": role}
            ).scalar()


def test_app_role_cannot_read_a_tenant_table_without_switching(settings: Settings, tenant: TenantRef) -> None:
    engine = create_engine(settings.database_url or "")
    try:
        with engine.connect() as connection, pytest.raises(ProgrammingError, match="permission denied"):
            connection.execute(text(f"select * from {tenant.schema}.people")).all()
        with engine.connect() as connection, pytest.raises(ProgrammingError, match="permission denied"):
            connection.execute(text("select * from platform.spare_schemas")).all()
        with engine.connect() as connection, pytest.raises(ProgrammingError):
            connection.execute(text(f"create table {tenant.schema}.intruder (id int)"))
    finally:
        engine.dispose()
