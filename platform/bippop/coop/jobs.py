"""Background work of the co-op: the nightly usage counts (``coop/usage.py`` says what each counts).

- ``count_usage`` (daily, 02:30 Paris) fans out from platform scope to one ``count_tenant_usage`` job
  per active tenant; only the tenant's id travels (``tenants/job_middleware.py``).
- ``count_tenant_usage`` counts the current tenant's month (and in the first days of a month the
  previous one) in a session scoped to that tenant, then upserts its ``platform.tenant_usage`` rows in
  platform scope. Running it again replaces the figures: it is idempotent. The console reads these rows
  and never queries a tenant's schema on page load.
"""

from __future__ import annotations

import dramatiq
import structlog

from bippop import clock
from bippop.coop import usage
from bippop.jobs import PeriodicJob
from bippop.tenants.context import require_tenant
from bippop.tenants.jobs import enqueue_per_active_tenant
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)


@dramatiq.actor(queue_name="coop", max_retries=5, min_backoff=10_000)
def count_tenant_usage() -> None:
    """The current tenant's usage of this month (and of the previous one in its first days)."""
    tenant = require_tenant()
    resources = platform_resources()
    months = usage.months_to_count(clock.today())
    with resources.tenant_session(tenant) as session, session.begin():
        counted = {month: usage.count_month(session, month) for month in months}
    with resources.sessions().begin() as session:
        for month, figures in counted.items():
            usage.store(session, tenant.id, month, figures, now=clock.now())
    log.info("tenant_usage_counted", tenant_id=str(tenant.id), months=[m.isoformat() for m in months])


@dramatiq.actor(queue_name="coop", max_retries=0)
def count_usage() -> None:
    """Daily: one ``count_tenant_usage`` job per active tenant."""
    enqueue_per_active_tenant(count_tenant_usage)


# When the scheduler enqueues them (collected by bippop.scheduler).
PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(count_usage, cron={"hour": 2, "minute": 30}, misfire_grace_time=6 * 3600),
)
