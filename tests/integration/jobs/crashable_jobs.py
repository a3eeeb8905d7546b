"""An actor for the worker-crash test, loaded by a real `dramatiq` worker next to bippop.worker."""

from __future__ import annotations

import time

import dramatiq

from bippop.runtime.resources import platform_resources
from bippop.tenants.context import current_tenant


@dramatiq.actor(queue_name="test-crash", max_retries=3, time_limit=120_000)
def slow_job(key: str) -> None:
    redis = platform_resources().redis
    assert redis is not None
    deliveries = redis.incr(f"test:crash:{key}:deliveries")
    if deliveries == 1:
        time.sleep(90)  # killed here by the test
    tenant = current_tenant()
    redis.set(f"test:crash:{key}:done", tenant.slug if tenant else "-")
