"""The one scheduler process: enqueues periodic jobs; the workers run them."""

from __future__ import annotations

import structlog
from apscheduler.schedulers.blocking import BlockingScheduler

from bippop.broker import build_broker, configure_broker
from bippop.config import Settings

log = structlog.get_logger(__name__)


def build_scheduler(settings: Settings) -> BlockingScheduler:
    from bippop.notifications import jobs as notification_jobs
    from bippop.tenants import jobs as tenant_jobs

    configure_broker(build_broker(settings))
    scheduler = BlockingScheduler(timezone="Europe/Paris")
    periodic = (
        (tenant_jobs.resume_stalled_provisioning, {"minutes": 1}),
        (tenant_jobs.refill_spare_pool, {"minutes": 1}),
        (tenant_jobs.purge_deleted_tenants, {"hours": 1}),
        (tenant_jobs.purge_audit_events, {"hours": 24}),
        (notification_jobs.sweep_outboxes, {"minutes": 1}),
        (notification_jobs.send_reminders, {"minutes": 10}),
    )
    for actor, every in periodic:
        # coalesce + one instance: a scheduler that was down does not fire a burst of catch-up runs.
        scheduler.add_job(
            actor.send, "interval", id=actor.actor_name, coalesce=True, max_instances=1, **every
        )
    scheduler.add_job(
        lambda: notification_jobs.sweep_outboxes.send(full=True),
        "interval",
        id="sweep_outboxes_full",
        coalesce=True,
        max_instances=1,
        hours=24,
    )
    # The volunteers' digest: once a day, at 17:00 Paris time (the scheduler's time zone).
    scheduler.add_job(
        notification_jobs.send_digests.send,
        "cron",
        id=notification_jobs.send_digests.actor_name,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
        hour=17,
        minute=0,
    )
    return scheduler
