"""The scheduler is built from what each domain declares: the same timetable as before for the jobs that
existed, the new jobs of the help-request domain, a worker that knows every actor it enqueues, and room
for what modules will contribute."""

from __future__ import annotations

import datetime
from typing import Any

import dramatiq
import pytest

import bippop.broker  # noqa: F401  (the actor below is declared on the platform's broker)
from bippop import scheduler as scheduler_module
from bippop.aid import reminders as reminder_jobs
from bippop.config import Settings
from bippop.jobs import PeriodicJob, collect
from bippop.notifications import jobs as notification_jobs

PARIS_TZ = "Europe/Paris"


@dramatiq.actor(queue_name="test-scheduler", max_retries=0)
def module_chore() -> None:
    """Stands for a periodic job a service module will declare in its manifest."""


def _jobs(settings: Settings, **kwargs: Any) -> dict[str, Any]:
    built = scheduler_module.build_scheduler(settings, **kwargs)
    assert str(built.timezone) == PARIS_TZ
    return {job.id: job for job in built.get_jobs()}


def _interval(job: Any) -> datetime.timedelta:
    return job.trigger.interval  # type: ignore[no-any-return]


def _cron(job: Any) -> dict[str, str]:
    return {field.name: str(field) for field in job.trigger.fields if not field.is_default}


def test_the_existing_periodic_jobs_keep_their_timetable(settings: Settings) -> None:
    jobs = _jobs(settings)
    every = {
        "resume_stalled_provisioning": datetime.timedelta(minutes=1),
        "refill_spare_pool": datetime.timedelta(minutes=1),
        "purge_deleted_tenants": datetime.timedelta(hours=1),
        "purge_audit_events": datetime.timedelta(hours=24),
        "sweep_outboxes": datetime.timedelta(minutes=1),
        "send_reminders": datetime.timedelta(minutes=10),
        "sweep_outboxes_full": datetime.timedelta(hours=24),
    }
    for job_id, interval in every.items():
        assert _interval(jobs[job_id]) == interval, job_id
        # No grace of its own: the scheduler's default, as before.
        assert getattr(jobs[job_id], "misfire_grace_time", "default") == "default", job_id
    # The daily safety net is the same actor, told to sweep every tenant.
    full = jobs["sweep_outboxes_full"]
    assert full.func == notification_jobs.sweep_outboxes.send and full.kwargs == {"full": True}
    assert jobs["sweep_outboxes"].kwargs == {}
    # The digest at 17:00, Paris time, an hour of grace.
    digest = jobs["send_digests"]
    assert _cron(digest) == {"hour": "17", "minute": "0"} and str(digest.trigger.timezone) == PARIS_TZ
    assert digest.misfire_grace_time == 3600
    assert digest.func == reminder_jobs.send_digests.send
    # None fires a burst of catch-up runs after a scheduler was down.
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())


def test_the_help_requests_jobs_are_scheduled(settings: Settings) -> None:
    from bippop.aid import jobs as aid_jobs

    jobs = _jobs(settings)
    assert _cron(jobs["extend_recurring_series"]) == {"hour": "2", "minute": "30"}
    assert _cron(jobs["check_vettings"]) == {"hour": "9", "minute": "0"}
    assert _interval(jobs["reoffer_requests"]) == datetime.timedelta(hours=1)
    assert jobs["extend_recurring_series"].func == aid_jobs.extend_recurring_series.send
    assert set(jobs) == {
        "resume_stalled_provisioning",
        "refill_spare_pool",
        "purge_deleted_tenants",
        "purge_audit_events",
        "sweep_outboxes",
        "sweep_outboxes_full",
        "send_reminders",
        "send_digests",
        "extend_recurring_series",
        "check_vettings",
        "reoffer_requests",
        "purge_event_registrations",  # the events module's own (bippop_modules/events/jobs.py)
        "resume_stalled_signups",  # the onboarding wizard's (onboarding/wizard/jobs.py)
        "purge_expired_signups",
        "count_usage",
        "run_invoicing",
        "retry_invoice_pdfs",
        "chorus_sweep",
        "send_invoice_reminders",
    }


def test_each_domain_declares_its_jobs_and_the_worker_loads_them_all(settings: Settings) -> None:
    declared = scheduler_module.periodic_jobs()
    modules = scheduler_module.load_job_modules()
    assert [m.__name__ for m in modules] == [
        "bippop.tenants.jobs",
        "bippop.runtime.jobs",  # purging deleted tenants: schema and files (storage is above tenants)
        "bippop.notifications.jobs",
        "bippop.aid.jobs",
        "bippop.onboarding.wizard.jobs",  # finishing councils' sign-ups, purging expired drafts
        "bippop.coop.jobs",  # the nightly usage counts
        "bippop.coop.lifecycle_jobs",  # export, deletion and move asked from the console
        "bippop.billing.jobs",  # the monthly invoicing run
        "bippop.billing.chorus.jobs",  # Chorus Pro status polling
        "bippop.billing.dunning_jobs",  # reminders of overdue invoices, suspension proposals
        "bippop_modules.events.jobs",  # a service module's, named in its manifest
    ]
    by_module = {m.__name__: {job.job_id for job in m.PERIODIC_JOBS} for m in modules}
    # The reminders and the digest are the help-request domain's (aid/reminders.py, declared by aid.jobs).
    assert by_module["bippop.aid.jobs"] == {
        "extend_recurring_series",
        "check_vettings",
        "reoffer_requests",
        "send_reminders",
        "send_digests",
    }
    assert by_module["bippop.notifications.jobs"] == {"sweep_outboxes", "sweep_outboxes_full"}
    assert "refill_spare_pool" in by_module["bippop.tenants.jobs"]
    assert by_module["bippop.runtime.jobs"] == {"purge_deleted_tenants"}
    assert by_module["bippop.onboarding.wizard.jobs"] == {"resume_stalled_signups", "purge_expired_signups"}
    assert by_module["bippop.coop.jobs"] == {"count_usage"}
    assert by_module["bippop.coop.lifecycle_jobs"] == set()
    assert by_module["bippop.billing.jobs"] == {"run_invoicing", "retry_invoice_pdfs"}
    assert by_module["bippop.billing.chorus.jobs"] == {"chorus_sweep"}
    assert by_module["bippop.billing.dunning_jobs"] == {"send_invoice_reminders"}
    # Every actor the scheduler enqueues is one the worker (which imports the same registry) declares.
    broker = dramatiq.get_broker()
    for job in declared:
        assert job.actor.actor_name in broker.get_declared_actors(), job.job_id
    assert tuple(m.__name__ for m in modules) == (*scheduler_module.JOB_MODULES, "bippop_modules.events.jobs")
    assert by_module["bippop_modules.events.jobs"] == {"purge_event_registrations"}


def test_modules_contribute_periodic_jobs_and_ids_stay_unique(settings: Settings) -> None:
    extra = [PeriodicJob(module_chore, every={"minutes": 30})]
    jobs = _jobs(settings, extra=extra)
    assert _interval(jobs["module_chore"]) == datetime.timedelta(minutes=30)
    assert len(jobs) == 20
    with pytest.raises(ValueError, match="send_digests"):
        scheduler_module.periodic_jobs(
            extra=[PeriodicJob(reminder_jobs.send_digests, cron={"hour": 8, "minute": 0})]
        )
    with pytest.raises(ValueError, match="exactly one"):
        PeriodicJob(module_chore)
    with pytest.raises(ValueError, match="exactly one"):
        PeriodicJob(module_chore, every={"hours": 1}, cron={"hour": 1})
    assert [j.job_id for j in collect([extra, []])] == ["module_chore"]
