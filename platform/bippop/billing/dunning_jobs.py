"""Dunning's daily job, in platform scope: reminders for overdue invoices and suspension proposals
(``billing.services.dunning``); the reminders' mail goes out through the platform outbox after commit."""

from __future__ import annotations

import dramatiq
import structlog

from bippop import clock
from bippop.billing.services.dunning import DunningRun, run_dunning
from bippop.jobs import PeriodicJob
from bippop.outbox.platform_mail import PLATFORM_PENDING_KEY, enqueue_platform_deliveries
from bippop.tenants.context import current_tenant
from bippop.tenants.resources import PlatformResources, platform_resources

log = structlog.get_logger(__name__)


def dun(resources: PlatformResources) -> DunningRun:
    """One run: the day's reminders and proposals committed, then their mail announced."""
    with resources.sessions().begin() as session:
        run = run_dunning(session, resources.settings, clock.now(), clock.today())
    if run.message_ids:
        if resources.redis is not None:
            try:
                resources.redis.set(PLATFORM_PENDING_KEY, "1")
            except Exception:  # the sweeper's daily pass still finds them
                log.warning("platform_mail_pending_flag_failed")
        enqueue_platform_deliveries(run.message_ids)
    log.info("dunning_run", reminders=run.reminders, proposals=run.proposals, skipped=run.skipped)
    return run


@dramatiq.actor(queue_name="platform", max_retries=3)
def send_invoice_reminders() -> None:
    """Daily: remind the billing contacts of overdue invoices; propose suspensions (never suspend)."""
    if current_tenant() is not None:  # platform work only
        log.error("dunning_job_in_tenant_scope")
        return
    dun(platform_resources())


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(send_invoice_reminders, cron={"hour": 9, "minute": 30}),
)
