"""Provisioning a tenant: role, schema, migrations, defaults. Idempotent and resumable.

``pending → provisioning → active``; any failure records ``failed`` with the
error, and running it again completes what is missing. Each step checks what
exists before acting, and a session-level advisory lock keeps two runs for the
same tenant from interleaving.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import structlog
from sqlalchemy import Connection, Engine, text

from bippop import clock
from bippop.db.engine import session_factory
from bippop.tenants.cache import HostCache
from bippop.tenants.ddl import ensure_role, ensure_schema
from bippop.tenants.migrator import describe_error, migrate_remote_schema, migrate_schema
from bippop.tenants.models import Tenant
from bippop.tenants.pool import claim
from bippop.tenants.services import TenantService

log = structlog.get_logger(__name__)

PROVISION_LOCK = 0x6270  # "bp": first half of the advisory lock key

DEFAULT_SETTINGS: dict[str, object] = {
    "default_locale": "fr",
    "timezone": "Europe/Paris",
}

# Steps after claiming a spare (if any), in order; tests hook `after_step` to simulate a crash
# between two of them.
STEPS = ("role", "schema", "migrations", "defaults")


class ProvisioningFailed(RuntimeError):
    pass


def provision(
    engine: Engine,
    tenant_id: uuid.UUID,
    *,
    base_domain: str = "",
    host_cache: HostCache | None = None,
    use_pool: bool = True,
    cluster_engine: Callable[[str], Engine] | None = None,
    after_step: Callable[[str], None] | None = None,
) -> str:
    """Provision one tenant; returns its final status. Safe to run again at any point.

    ``engine`` reaches the platform schema (and the tenants on its cluster); ``cluster_engine(name)``
    the migrator's engine of another cluster, for tenants placed there."""
    with engine.connect() as lock_connection:
        lock_connection.execute(
            text("select pg_advisory_lock(:a, hashtext(:b))"), {"a": PROVISION_LOCK, "b": str(tenant_id)}
        )
        try:
            return _provision_locked(
                engine,
                tenant_id,
                after_step,
                TenantServiceArgs(base_domain, host_cache, use_pool, cluster_engine),
            )
        finally:
            lock_connection.execute(
                text("select pg_advisory_unlock(:a, hashtext(:b))"),
                {"a": PROVISION_LOCK, "b": str(tenant_id)},
            )
            lock_connection.commit()


@dataclasses.dataclass(frozen=True)
class TenantServiceArgs:
    base_domain: str
    host_cache: HostCache | None
    use_pool: bool = True
    cluster_engine: Callable[[str], Engine] | None = None


def _provision_locked(
    engine: Engine, tenant_id: uuid.UUID, after_step: Callable[[str], None] | None, args: TenantServiceArgs
) -> str:
    # Over 60 lines: the provisioning steps in their order, each idempotent and logged, read top to bottom.
    Session = session_factory(engine)
    with Session.begin() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise ProvisioningFailed(f"no tenant {tenant_id}")
        if tenant.status in ("active", "suspended"):
            return tenant.status
        tenant.status = "provisioning"
        schema, role, slug, cluster = tenant.schema_name, tenant.db_role, tenant.slug, tenant.cluster
    local = cluster == "main" or args.cluster_engine is None
    target = engine if local else args.cluster_engine(cluster)  # type: ignore[misc]
    log.info("tenant_provisioning", tenant=slug, cluster=cluster)
    try:
        if args.use_pool and local:
            with engine.begin() as connection:
                revision = claim(connection, schema, role)
                if revision is not None:
                    connection.execute(
                        text("update platform.tenants set revision = :r where id = :id"),
                        {"r": revision, "id": tenant_id},
                    )
            if revision is not None:
                log.info("spare_schema_claimed", tenant=slug)
            if after_step:
                after_step("claim")

        def in_transaction(step: Callable[[Connection], object]) -> Callable[[], None]:
            def run() -> None:
                with target.begin() as connection:
                    step(connection)

            return run

        steps: dict[str, Callable[[], object]] = {
            "role": in_transaction(lambda c: ensure_role(c, role)),
            "schema": in_transaction(lambda c: ensure_schema(c, schema, role)),
            # On the platform's cluster the schema change and its record commit together.
            "migrations": in_transaction(lambda c: migrate_schema(c, tenant_id, schema))
            if local
            else lambda: migrate_remote_schema(engine, target, tenant_id, schema),
            "defaults": in_transaction(lambda c: _ensure_defaults(c, schema, role)),
        }
        for name in STEPS:
            steps[name]()
            if after_step:
                after_step(name)
    except Exception as exc:
        message = describe_error(exc)
        with Session.begin() as session:
            failed = session.get(Tenant, tenant_id)
            if failed is not None:
                failed.status = "failed"
                failed.last_error = message
        log.error("tenant_provisioning_failed", tenant=slug, error=message)
        raise
    with Session.begin() as session:
        done = session.get(Tenant, tenant_id)
        assert done is not None
        done.last_error = None
        done.provisioned_at = clock.now()
        # Through the registry, so that a "being prepared" page cached for its hosts is dropped.
        TenantService(session, base_domain=args.base_domain, host_cache=args.host_cache).set_status(
            done, "active"
        )
    log.info("tenant_provisioned", tenant=slug)
    return "active"


def _ensure_defaults(connection: Connection, schema: str, role: str) -> None:
    connection.execute(
        text("select set_config('search_path', :s, true), set_config('role', :r, true)"),
        {"s": schema, "r": role},
    )
    for key, value in DEFAULT_SETTINGS.items():
        connection.execute(
            text(
                "insert into settings (key, value, updated_at) values (:k, to_jsonb(cast(:v as text)), now()) "
                "on conflict (key) do nothing"
            ),
            {"k": key, "v": value},
        )
