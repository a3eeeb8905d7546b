"""A worker killed in the middle of a job: the job runs again on another worker, with its tenant."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from redis import Redis

from bippop.config import Settings
from bippop.tenants.context import TenantRef, tenant_scope
from support import clean_env

JOBS_DIR = Path(__file__).parent / "jobs"


def _worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = clean_env(
        BIPPOP_DATABASE_URL=settings.database_url or "",
        BIPPOP_REDIS_URL=settings.redis_url or "",
        BIPPOP_BROKER_URL=settings.broker_url or "",
        BIPPOP_BASE_DOMAIN=settings.base_domain,
        BIPPOP_VAR_DIR=str(settings.var_dir),
        BIPPOP_JOB_HEARTBEAT_SECONDS="2",
        PYTHONPATH=str(JOBS_DIR),
    )
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "bippop.worker",
        "crashable_jobs",
        "--processes",
        "1",
        "--threads",
        "1",
    ]
    return subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait(predicate, seconds: float, nudge=None) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        if nudge:
            nudge()
        time.sleep(0.2)
    return False


def test_job_of_a_killed_worker_is_run_again(settings: Settings, tenant: TenantRef) -> None:
    from bippop.broker import build_broker, configure_broker

    sys.path.insert(0, str(JOBS_DIR))
    try:
        import crashable_jobs
    finally:
        sys.path.remove(str(JOBS_DIR))
    broker = configure_broker(build_broker(settings))
    redis = Redis.from_url(settings.redis_url or "")
    key = uuid.uuid4().hex[:8]
    first = _worker(settings)
    second = None
    try:
        with tenant_scope(tenant):
            crashable_jobs.slow_job.send(key)
        assert _wait(lambda: redis.get(f"test:crash:{key}:deliveries") == b"1", 60), "the job never started"
        os.killpg(first.pid, signal.SIGKILL)  # no chance to ack, requeue or say goodbye
        first.wait(10)
        second = _worker(settings)
        nudge = None
        if not (settings.effective_broker_url or "").startswith("amqp"):
            from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker

            # Stands for the other workers' periodic maintenance, which requeues a dead worker's messages.
            maintainer = RedisBroker(
                url=settings.redis_url,
                namespace="bippop",
                heartbeat_timeout=2000,
                maintenance_chance=MAINTENANCE_SCALE,
            )
            nudge = lambda: maintainer.do_qsize("test-crash")  # noqa: E731
        assert _wait(lambda: redis.get(f"test:crash:{key}:done") is not None, 90, nudge), "the job was lost"
        assert redis.get(f"test:crash:{key}:done") == b"alpha"
        assert int(redis.get(f"test:crash:{key}:deliveries") or 0) == 2
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(15)
        broker.close()
