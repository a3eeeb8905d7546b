"""Jobs that need the whole platform: purging deleted tenants removes their schema (the tenancy core)
and their files (``bippop.storage``, above the tenancy core), so the actor lives up here."""

from __future__ import annotations

import dramatiq

import bippop.broker  # noqa: F401  (declares actors against the platform's broker)
from bippop.jobs import PeriodicJob
from bippop.tenants.resources import platform_resources


@dramatiq.actor(queue_name="platform", max_retries=3)
def purge_deleted_tenants() -> None:
    """Periodic: remove tenants whose deletion grace period is over."""
    from bippop.runtime.operations import purge_deleted

    purge_deleted(platform_resources().settings)


# When the scheduler enqueues them (collected by bippop.scheduler).
PERIODIC_JOBS = (PeriodicJob(purge_deleted_tenants, every={"hours": 1}),)
