"""The tenant travels with each job message and is restored in a real dramatiq worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from sqlalchemy import select, text

import bippop.broker  # noqa: F401  (the actors below are declared on the platform's broker)
from bippop.accounts.models import Setting
from bippop.config import Settings
from bippop.runtime.operations import change_status, create_tenant, resources_for, show_tenant
from bippop.tenants import jobs as tenant_jobs
from bippop.tenants.context import TenantRef, current_tenant, tenant_scope
from support import running_worker

SEEN: list[str | None] = []


@dramatiq.actor(queue_name="test-tenancy", max_retries=0)
def record_tenant(marker: str) -> None:
    """Writes what it sees into the current tenant's own schema (or notes platform scope)."""
    tenant = current_tenant()
    SEEN.append(tenant.slug if tenant else None)
    if tenant is None:
        return
    from bippop.runtime.resources import platform_resources

    Session = platform_resources().sessions()
    with Session(info={"tenant": tenant}) as session, session.begin():
        session.merge(Setting(key=f"job-{marker}", value=tenant.slug))


@pytest.fixture
def worker(settings: Settings) -> Iterator[dramatiq.Broker]:
    with running_worker(settings) as broker:
        yield broker


def _setting(settings: Settings, tenant: TenantRef, key: str) -> object:
    Session = resources_for(settings).sessions()
    with Session(info={"tenant": tenant}) as session:
        return session.scalar(select(Setting.value).where(Setting.key == key))


def test_tenant_context_is_restored_in_the_worker(
    worker: dramatiq.Broker, settings: Settings, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    SEEN.clear()
    marker = uuid.uuid4().hex[:8]
    with tenant_scope(tenant):
        record_tenant.send(marker + "a")
    with tenant_scope(other_tenant):
        record_tenant.send(marker + "b")
    record_tenant.send(marker + "p")
    worker.join("test-tenancy", timeout=30_000)
    assert sorted(SEEN, key=str) == sorted(["alpha", "beta", None], key=str)
    assert _setting(settings, tenant, f"job-{marker}a") == "alpha"
    assert _setting(settings, other_tenant, f"job-{marker}a") is None
    assert _setting(settings, other_tenant, f"job-{marker}b") == "beta"
    assert _setting(settings, tenant, f"job-{marker}b") is None


def test_message_carries_only_the_tenant_id(settings: Settings, tenant: TenantRef) -> None:
    from dramatiq.brokers.stub import StubBroker

    from bippop.tenants.job_middleware import TENANT_OPTION, TenantMiddleware

    stub = StubBroker(middleware=[TenantMiddleware(lambda _id: None)])
    actor = dramatiq.actor(lambda: None, actor_name="probe", broker=stub)
    with tenant_scope(tenant):
        message = actor.send()
    assert message.options[TENANT_OPTION] == str(tenant.id)
    assert "alpha" not in repr(message.asdict())


def test_jobs_of_a_suspended_tenant_are_skipped(
    worker: dramatiq.Broker, settings: Settings, other_tenant: TenantRef
) -> None:
    SEEN.clear()
    change_status(settings, "beta", "suspend")
    try:
        with tenant_scope(other_tenant):
            record_tenant.send("suspended")
        worker.join("test-tenancy", timeout=30_000)
    finally:
        change_status(settings, "beta", "reactivate")
    assert SEEN == []
    assert _setting(settings, other_tenant, "job-suspended") is None


def test_provisioning_runs_as_a_job(worker: dramatiq.Broker, settings: Settings) -> None:
    tenant = create_tenant(settings, "par-job", "Par Job", "commune", "02002", background=True)
    assert tenant.status == "pending"
    worker.join(tenant_jobs.provision_tenant.queue_name, timeout=60_000)
    deadline = time.monotonic() + 30
    while show_tenant(settings, "par-job")["état"] != "active" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert show_tenant(settings, "par-job")["état"] == "active"
    with resources_for(settings).admin_engine.connect() as connection:
        assert connection.execute(text("select to_regclass('t_par_job.people')")).scalar() is not None


def test_scheduler_enqueues_each_periodic_job_once(settings: Settings) -> None:
    from bippop.scheduler import build_scheduler

    scheduler = build_scheduler(settings)
    jobs = {job.id: job for job in scheduler.get_jobs()}
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
        "purge_event_registrations",  # the events module's, from its manifest
        "resume_stalled_signups",  # onboarding's
        "purge_expired_signups",
        "count_usage",
        "run_invoicing",
        "retry_invoice_pdfs",
        "chorus_sweep",
        "send_invoice_reminders",
    }
    assert jobs["purge_deleted_tenants"].trigger.interval.total_seconds() == 3600
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())
