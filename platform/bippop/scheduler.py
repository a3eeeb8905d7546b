"""The one scheduler process: enqueues periodic jobs; the workers run them.

It names no job: each domain declares its own beside its actors (``PERIODIC_JOBS`` in its ``jobs.py``,
listed in ``JOB_MODULES``, the one registry the worker loads too), and the scheduler adds them all.
Service modules bring theirs the same way, named in their manifest (``jobs``: modules with actors and a
``PERIODIC_JOBS`` list); ``build_scheduler(settings, extra=...)`` adds more (tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING

import structlog

from bippop.broker import build_broker, configure_broker
from bippop.config import Settings
from bippop.jobs import PeriodicJob, collect
from bippop.modules.assembly import job_modules as module_job_modules

if TYPE_CHECKING:
    from apscheduler.schedulers.blocking import BlockingScheduler

log = structlog.get_logger(__name__)

# The modules that declare actors and periodic jobs, one per domain; the worker imports the same.
JOB_MODULES = (
    "bippop.tenants.jobs",
    "bippop.runtime.jobs",
    "bippop.notifications.jobs",
    "bippop.aid.jobs",
    "bippop.onboarding.wizard.jobs",
    "bippop.coop.jobs",
    "bippop.coop.lifecycle_jobs",
    "bippop.billing.jobs",
    "bippop.billing.chorus.jobs",
    "bippop.billing.dunning_jobs",
)


def load_job_modules(names: Iterable[str] | None = None) -> list[ModuleType]:
    """The domains' job modules and the installed service modules' (or only ``names``)."""
    if names is None:
        names = (*JOB_MODULES, *module_job_modules())
    return [importlib.import_module(name) for name in names]


def periodic_jobs(extra: Iterable[PeriodicJob] = ()) -> list[PeriodicJob]:
    """Every domain's declared periodic jobs, then ``extra`` (what modules contribute)."""
    declared = [getattr(module, "PERIODIC_JOBS", ()) for module in load_job_modules()]
    return collect([*declared, extra])


def build_scheduler(settings: Settings, *, extra: Iterable[PeriodicJob] = ()) -> BlockingScheduler:
    from apscheduler.schedulers.blocking import BlockingScheduler

    jobs = periodic_jobs(extra)
    configure_broker(build_broker(settings))
    scheduler = BlockingScheduler(timezone="Europe/Paris")
    for job in jobs:
        options = {} if job.misfire_grace_time is None else {"misfire_grace_time": job.misfire_grace_time}
        # coalesce + one instance: a scheduler that was down does not fire a burst of catch-up runs.
        scheduler.add_job(
            job.actor.send,
            job.trigger,
            kwargs=dict(job.message),
            id=job.job_id,
            coalesce=True,
            max_instances=1,
            **options,
            **job.trigger_fields,
        )
    log.info("periodic_jobs", jobs=len(jobs))
    return scheduler
