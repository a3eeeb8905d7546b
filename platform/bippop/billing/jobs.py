"""Billing's background work, in platform scope (only ids travel): the monthly invoicing run (also sent
for one tenant on demand), and the retry of the PDFs a storage outage left unmade."""

from __future__ import annotations

import uuid

import dramatiq
import structlog

from bippop import clock
from bippop.jobs import PeriodicJob
from bippop.storage import storage_from_settings
from bippop.tenants.context import current_tenant, tenant_scope
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)


@dramatiq.actor(queue_name="platform", max_retries=3, time_limit=60 * 60 * 1000)
def run_invoicing(tenant_id: str | None = None) -> None:
    """Issue every due invoice (of one tenant when ``tenant_id``); a retry or a second run issues
    nothing twice."""
    from bippop.billing.services.run import run_billing

    if current_tenant() is not None:  # platform work only: a tenant's message never bills
        log.error("invoicing_job_in_tenant_scope")
        return
    resources = platform_resources()
    settings = resources.settings
    run_billing(
        resources.sessions(),
        settings,
        clock.today(),
        tenant_ids=[uuid.UUID(tenant_id)] if tenant_id else None,
        storage=storage_from_settings(settings),
    )


def enqueue_invoicing(tenant_id: uuid.UUID | None = None) -> None:
    """Enqueue ``run_invoicing`` in platform scope (no tenant stamped on the message)."""
    with tenant_scope(None):
        run_invoicing.send(str(tenant_id) if tenant_id else None)


@dramatiq.actor(queue_name="platform", max_retries=0)
def retry_invoice_pdfs() -> None:
    """Periodic: the PDFs not stored (storage out when issued) are made again."""
    from bippop.billing.services.documents import retry_missing

    resources = platform_resources()
    retry_missing(resources.sessions(), storage_from_settings(resources.settings))


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    # The 1st of each month at 05:30 (Paris): the month's (and, in January, the year's) invoices.
    PeriodicJob(run_invoicing, cron={"day": 1, "hour": 5, "minute": 30}),
    PeriodicJob(retry_invoice_pdfs, every={"minutes": 30}),
)
