"""The precondition of Citus schema-based sharding, checked on every tenant schema.

A tenant schema can become a distributed schema (and move to another cluster)
only if none of its foreign keys, views or functions reach another schema.
"""

from __future__ import annotations

from sqlalchemy import text

from bippop.config import Settings
from bippop.runtime.operations import resources_for
from bippop.tenants.context import TenantRef


def test_no_tenant_object_references_another_schema(
    settings: Settings, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    with resources_for(settings).admin_engine.connect() as connection:
        schemas = list(
            connection.execute(
                text(
                    "select schema_name from platform.tenants "
                    "union all select schema_name from platform.spare_schemas"
                )
            ).scalars()
        )
        assert len(schemas) >= 2
        foreign_keys = connection.execute(
            text(
                "select c.conname, n.nspname, fn.nspname from pg_constraint c "
                "join pg_class t on t.oid = c.conrelid join pg_namespace n on n.oid = t.relnamespace "
                "join pg_class f on f.oid = c.confrelid join pg_namespace fn on fn.oid = f.relnamespace "
                "where c.contype = 'f' and n.nspname = any(:s) and fn.nspname <> n.nspname"
            ),
            {"s": schemas},
        ).all()
        assert foreign_keys == []
        views = connection.execute(
            text(
                "select distinct v.relname, vn.nspname, rn.nspname from pg_depend d "
                "join pg_rewrite r on r.oid = d.objid join pg_class v on v.oid = r.ev_class "
                "join pg_namespace vn on vn.oid = v.relnamespace "
                "join pg_class rc on rc.oid = d.refobjid join pg_namespace rn on rn.oid = rc.relnamespace "
                "where vn.nspname = any(:s) and rn.nspname <> vn.nspname and rn.nspname <> 'pg_catalog'"
            ),
            {"s": schemas},
        ).all()
        assert views == []
        # Column defaults and types must not come from another schema either (sequences, enums, domains).
        foreign_types = connection.execute(
            text(
                "select a.attrelid::regclass, a.attname from pg_attribute a "
                "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
                "join pg_type ty on ty.oid = a.atttypid join pg_namespace tn on tn.oid = ty.typnamespace "
                "where n.nspname = any(:s) and a.attnum > 0 and not a.attisdropped "
                "and tn.nspname not in ('pg_catalog', n.nspname)"
            ),
            {"s": schemas},
        ).all()
        assert foreign_types == []


def test_tenant_migrations_never_name_a_schema() -> None:
    from bippop.db.chains import MIGRATIONS_DIR

    for path in (MIGRATIONS_DIR / "tenant" / "versions").glob("*.py"):
        source = path.read_text()
        assert "schema=" not in source, f"{path.name} names a schema"
        assert "platform." not in source, f"{path.name} reaches into platform"
