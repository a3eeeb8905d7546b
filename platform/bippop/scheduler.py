"""The one scheduler process: enqueues periodic jobs; the workers run them."""

from __future__ import annotations

import structlog
from apscheduler.schedulers.blocking import BlockingScheduler

from bippop.broker import build_broker, configure_broker
from bippop.config import Settings

log = structlog.get_logger(__name__)


def build_scheduler(settings: Settings) -> BlockingScheduler:
    from bippop.tenants import jobs as tenant_jobs

    configure_broker(build_broker(settings))
    scheduler = BlockingScheduler(timezone="Europe/Paris")
    scheduler.add_job(
        tenant_jobs.resume_stalled_provisioning.send,
        "interval",
        minutes=1,
        id="resume_stalled_provisioning",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        tenant_jobs.refill_spare_pool.send,
        "interval",
        minutes=1,
        id="refill_spare_pool",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        tenant_jobs.purge_deleted_tenants.send,
        "interval",
        hours=1,
        id="purge_deleted_tenants",
        coalesce=True,
        max_instances=1,
    )
    return scheduler
