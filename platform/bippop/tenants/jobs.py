"""Jobs of the tenancy core: provisioning, the sweeper that resumes lost provisioning, the spare pool,
retention purges (purging deleted tenants, files included, is ``runtime/jobs.py``'s); and ``enqueue_per_active_tenant``, how a periodic job of any domain fans out to one job per
active tenant (only the tenant's id travels, on the message's options: ``tenants/job_middleware.py``)."""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
import structlog
from sqlalchemy import text

from bippop.db.engine import session_factory
from bippop.jobs import PeriodicJob
from bippop.tenants.context import TenantRef, tenant_scope
from bippop.tenants.resources import platform_resources
from bippop.tenants.retention import retention_purges

log = structlog.get_logger(__name__)


@dramatiq.actor(queue_name="platform", max_retries=5, time_limit=15 * 60 * 1000)
def provision_tenant(tenant_id: str) -> None:
    """Provision one tenant (role, schema, migrations, defaults); retried until it completes."""
    from bippop.tenants.provisioning import provision

    resources = platform_resources()
    provision(
        resources.admin_engine,
        uuid.UUID(tenant_id),
        base_domain=resources.settings.base_domain,
        host_cache=resources.host_cache,
        cluster_engine=resources.admin_engine_for,
    )
    refill_spare_pool.send()


@dramatiq.actor(queue_name="platform", max_retries=3)
def refill_spare_pool() -> None:
    """Keep BIPPOP_SPARE_POOL_SIZE spare schemas at head (periodic, and after each claim)."""
    from bippop.tenants.pool import refill

    resources = platform_resources()
    refill(resources.admin_engine, resources.settings.spare_pool_size)


@dramatiq.actor(queue_name="platform", max_retries=3)
def purge_audit_events() -> None:
    """Daily: run the retention purges the domains registered (the audit log's drops events older than
    BIPPOP_AUDIT_RETENTION_DAYS) in every tenant schema, as the owner: the log is append-only for the
    application."""
    purges = retention_purges()
    if not purges:
        log.warning("no_retention_purge_registered")
        return
    resources = platform_resources()
    with resources.admin_engine.connect() as connection:
        rows = connection.execute(
            text("select schema_name, cluster from platform.tenants where status in ('active', 'suspended')")
        ).all()
    clusters = set(resources.settings.cluster_urls())
    reachable = [(schema, cluster) for schema, cluster in rows if cluster in clusters]
    if len(reachable) < len(rows):
        # As active_tenants: a tenant on a cluster these settings do not declare must not stop the others.
        log.error("tenants_on_unknown_cluster", tenants=len(rows) - len(reachable))
    for schema, cluster in reachable:
        with session_factory(resources.admin_engine_for(cluster))() as session, session.begin():
            session.execute(text("select set_config('search_path', :s, true)"), {"s": schema})
            for purge in purges.values():
                purge(session, resources.settings)


@dramatiq.actor(queue_name="platform", max_retries=0)
def resume_stalled_provisioning() -> None:
    """Periodic: re-enqueue tenants left pending (their job was lost) for more than two minutes."""
    with platform_resources().admin_engine.connect() as connection:
        ids = connection.execute(
            text(
                "select id from platform.tenants where status in ('pending', 'provisioning') "
                "and updated_at < now() - interval '2 minutes'"
            )
        ).scalars()
        for tenant_id in ids:
            provision_tenant.send(str(tenant_id))


# Fanning out to every tenant -------------------------------------------------------------------


def active_tenants() -> list[TenantRef]:
    """Every active tenant this process can reach, in one query. A tenant placed on a cluster these
    settings do not declare is left out and logged (its jobs could only fail and retry)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bippop.tenants.models import Tenant

    resources = platform_resources()
    clusters = set(resources.settings.cluster_urls())
    with Session(resources.engine) as session:
        tenants = [
            t.ref()
            for t in session.scalars(select(Tenant).where(Tenant.status == "active").order_by(Tenant.id))
        ]
    unreachable = [t.slug for t in tenants if t.cluster not in clusters]
    if unreachable:
        log.error("tenants_on_unknown_cluster", tenants=len(unreachable))
    return [t for t in tenants if t.cluster in clusters]


def enqueue_per_active_tenant(actor: dramatiq.Actor[[], Any]) -> int:
    """Send ``actor`` (no arguments) once per active tenant, each in that tenant's scope; returns how many."""
    tenants = active_tenants()
    for tenant in tenants:
        with tenant_scope(tenant):
            actor.send()
    return len(tenants)


# When the scheduler enqueues them (collected by bippop.scheduler).
PERIODIC_JOBS = (
    PeriodicJob(resume_stalled_provisioning, every={"minutes": 1}),
    PeriodicJob(refill_spare_pool, every={"minutes": 1}),
    PeriodicJob(purge_audit_events, every={"hours": 24}),
)
