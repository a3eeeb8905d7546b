"""The console's lifecycle jobs, in platform scope (only ids and codes travel): export a tenant, close it
and delete it after a grace period, move it to another cluster. Each reuses the tenancy core's
``bippop.tenants.lifecycle`` on the migrator's connection (as ``bippop tenants export|delete|move``
do), then adds an audit entry ``tenant.<kind>_done`` or ``tenant.<kind>_failed`` that the tenant's
page reads as the job's state.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog

import bippop.broker  # noqa: F401  (declares actors against the platform's broker)
from bippop.accounts.staff_models import Staff
from bippop.coop.audit import record
from bippop.coop.services.lifecycle import Job
from bippop.jobs import PeriodicJob
from bippop.storage import storage_from_settings
from bippop.tenants import lifecycle
from bippop.tenants.context import current_tenant, tenant_scope
from bippop.tenants.errors import TenantError
from bippop.tenants.models import Tenant
from bippop.tenants.resources import PlatformResources, platform_resources

log = structlog.get_logger(__name__)

PERIODIC_JOBS: tuple[PeriodicJob, ...] = ()
HOUR_MS = 60 * 60 * 1000


def _finish(
    resources: PlatformResources,
    kind: str,
    tenant_id: uuid.UUID,
    staff_id: str,
    work: Callable[[], str | None],
) -> None:
    """Run ``work`` (its result is the entry's target), then record how it ended."""
    try:
        target = work()
    except TenantError as exc:
        log.warning(
            "tenant_lifecycle_refused", job=kind, tenant_id=str(tenant_id), reason=exc.code or exc.field
        )
        _record(resources, f"tenant.{kind}_failed", tenant_id, staff_id, None, reason=exc.code or "refused")
        return
    except Exception:
        log.exception("tenant_lifecycle_failed", job=kind, tenant_id=str(tenant_id))
        _record(resources, f"tenant.{kind}_failed", tenant_id, staff_id, None, reason="error")
        return
    _record(resources, f"tenant.{kind}_done", tenant_id, staff_id, target)
    log.info("tenant_lifecycle_done", job=kind, tenant_id=str(tenant_id))


def _record(
    resources: PlatformResources,
    action: str,
    tenant_id: uuid.UUID,
    staff_id: str,
    target: str | None,
    **details: Any,
) -> None:
    with resources.sessions().begin() as session:
        staff = session.get(Staff, uuid.UUID(staff_id))  # removed since asking: the entry names nobody
        by = staff.id if staff is not None else None
        record(session, action, staff_id=by, tenant_id=tenant_id, target=target, **details)


def _hosts(resources: PlatformResources, tenant_id: uuid.UUID) -> list[str]:
    with resources.sessions()() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise TenantError("unknown tenant", field="slug", code="not_found")
        base = resources.settings.base_domain
        return [f"{tenant.slug}.{base}", *(d.hostname for d in tenant.domains)]


def _in_platform_scope(job: str, tenant_id: str) -> bool:
    if current_tenant() is not None:  # a tenant's code never exports, deletes nor moves a tenant
        log.error("lifecycle_job_in_tenant_scope", job=job, tenant_id=tenant_id)
        return False
    return True


@dramatiq.actor(queue_name="platform", max_retries=0, time_limit=HOUR_MS)
def export_tenant_archive(tenant_id: str, staff_id: str) -> None:
    """One archive of the tenant's data and files in storage; its key is the entry's target."""
    if not _in_platform_scope("export", tenant_id):
        return
    resources, tid = platform_resources(), uuid.UUID(tenant_id)

    def work() -> str:
        storage = storage_from_settings(resources.settings)
        return lifecycle.export_tenant(resources.admin_engine, storage, tid, resources.admin_engine_for).key

    _finish(resources, "export", tid, staff_id, work)


@dramatiq.actor(queue_name="platform", max_retries=0)
def schedule_tenant_deletion(tenant_id: str, staff_id: str, grace_days: int) -> None:
    """Close the portal now; the hourly purge deletes everything once the grace period is over."""
    if not _in_platform_scope("delete", tenant_id):
        return
    resources, tid = platform_resources(), uuid.UUID(tenant_id)

    def work() -> str:
        due = lifecycle.schedule_deletion(
            resources.admin_engine,
            tid,
            grace=datetime.timedelta(days=grace_days),
            host_cache=resources.host_cache,
            hosts=_hosts(resources, tid),
        )
        return due.isoformat(timespec="minutes")

    _finish(resources, "delete", tid, staff_id, work)


@dramatiq.actor(queue_name="platform", max_retries=0, time_limit=2 * HOUR_MS)
def move_tenant_to_cluster(tenant_id: str, staff_id: str, cluster: str) -> None:
    """Export, restore on ``cluster``, switch, remove the old copy (on failure the tenant stays)."""
    if not _in_platform_scope("move", tenant_id):
        return
    resources, tid = platform_resources(), uuid.UUID(tenant_id)
    if cluster not in resources.settings.cluster_urls():
        _record(resources, "tenant.move_failed", tid, staff_id, cluster, reason="unknown_cluster")
        return

    def work() -> str:
        lifecycle.move_tenant(
            resources.admin_engine,
            storage_from_settings(resources.settings),
            tid,
            cluster,
            resources.admin_engine_for,
            host_cache=resources.host_cache,
            hosts=_hosts(resources, tid),
        )
        return cluster

    _finish(resources, "move", tid, staff_id, work)


def enqueue(job: Job) -> None:
    """Send ``job``'s actor in platform scope (no tenant stamped on the message)."""
    with tenant_scope(None):
        if job.kind == "export":
            export_tenant_archive.send(str(job.tenant_id), str(job.staff_id))
        elif job.kind == "delete":
            schedule_tenant_deletion.send(str(job.tenant_id), str(job.staff_id), job.grace_days)
        elif job.kind == "move":
            move_tenant_to_cluster.send(str(job.tenant_id), str(job.staff_id), job.cluster)
        else:
            raise ValueError(f"unknown job {job.kind!r}")
