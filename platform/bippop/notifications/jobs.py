"""Notification jobs: delivering one message (by id, in its tenant's scope), the sweeper for what was
never sent, and ``enqueue_deliveries`` for the jobs of the domains above, which plan their own messages
(the appointment reminders and the volunteers' digest: ``aid/reminders.py``) and hand over the ids
once committed.
"""

from __future__ import annotations

import uuid

import dramatiq
import structlog
from sqlalchemy import text

import bippop.broker  # noqa: F401  (declares actors against the platform's broker)
from bippop.jobs import PeriodicJob
from bippop.outbox.after_commit import DELIVERY_ACTOR, DELIVERY_QUEUE, PENDING_TENANTS_KEY
from bippop.outbox.platform_mail import (
    PLATFORM_DELIVERY_ACTOR,
    PLATFORM_PENDING_KEY,
    enqueue_platform_deliveries,
)
from bippop.tenants.context import TenantRef, current_tenant, require_tenant, tenant_scope
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)


# Named by the outbox, which enqueues it by name after a page's commit (``outbox/after_commit.py``).
@dramatiq.actor(
    actor_name=DELIVERY_ACTOR,
    queue_name=DELIVERY_QUEUE,
    max_retries=8,
    min_backoff=5_000,
    max_backoff=600_000,
)
def deliver_message(message_id: str) -> None:
    """Send one outbox message of the current tenant (the job middleware restores the tenant)."""
    from bippop.notifications.services import DeliveryError, deliver

    tenant = require_tenant()
    resources = platform_resources()
    host = f"{tenant.slug}.{resources.settings.base_domain}"
    with resources.tenant_session(tenant) as session:
        try:
            status = deliver(session, resources.settings, uuid.UUID(message_id), tenant_host=host)
        except DeliveryError as exc:
            session.commit()  # keep the attempt count and the error, then let dramatiq retry
            log.warning("message_delivery_failed", message_id=message_id, error=str(exc))
            raise
        session.commit()
    log.info("message_delivery", message_id=message_id, status=status)


# Named by the platform outbox, which enqueues it by name (``outbox/platform_mail.py``).
@dramatiq.actor(
    actor_name=PLATFORM_DELIVERY_ACTOR,
    queue_name=DELIVERY_QUEUE,
    max_retries=8,
    min_backoff=5_000,
    max_backoff=600_000,
)
def deliver_platform_message(message_id: str) -> None:
    """Send one message of the platform's own outbox (a job without a tenant: platform scope)."""
    from bippop.notifications.platform_mail import deliver_platform
    from bippop.notifications.services import DeliveryError

    if current_tenant() is not None:  # a tenant's code never sends the platform's mail
        log.error("platform_message_in_tenant_scope", message_id=message_id)
        return
    resources = platform_resources()
    with resources.sessions()() as session:
        try:
            status = deliver_platform(session, resources.settings, uuid.UUID(message_id))
        except DeliveryError as exc:
            session.commit()  # keep the attempt count and the error, then let dramatiq retry
            log.warning("platform_message_delivery_failed", message_id=message_id, error=str(exc))
            raise
        session.commit()
    log.info("platform_message_delivery", message_id=message_id, status=status)


def sweep_platform_outbox(full: bool) -> None:
    """Re-enqueue the platform's messages still pending after a minute, when some were queued since the
    last sweep that found none waiting (``full``: in any case)."""
    from bippop.notifications.platform_mail import pending_platform_ids

    resources = platform_resources()
    redis = resources.redis
    if not full and (redis is None or not redis.exists(PLATFORM_PENDING_KEY)):
        return
    with resources.sessions()() as session:
        waiting = pending_platform_ids(session, older_than_seconds=60)
        still_queued = bool(pending_platform_ids(session, older_than_seconds=0, limit=1))
    if not still_queued and redis is not None:
        redis.delete(PLATFORM_PENDING_KEY)
    enqueue_platform_deliveries(waiting)


@dramatiq.actor(queue_name="notifications", max_retries=0)
def sweep_outboxes(full: bool = False) -> None:
    """Periodic: re-enqueue messages still pending after a minute (lost job, mail server down), in the
    tenants that queued mail since the last sweep that found their outbox empty (``full``: in every
    active tenant, the daily safety net); and the platform's own outbox (``sweep_platform_outbox``)."""
    from bippop.notifications.services import pending_ids

    resources = platform_resources()
    redis = resources.redis
    sweep_platform_outbox(full)
    if redis is None:
        return
    if full:
        with resources.engine.connect() as connection:
            candidates = [
                str(t)
                for t in connection.execute(
                    text("select id from platform.tenants where status = 'active'")
                ).scalars()
            ]
    else:
        candidates = [
            m.decode() if isinstance(m, bytes) else str(m) for m in redis.smembers(PENDING_TENANTS_KEY)
        ]
    clusters = set(resources.settings.cluster_urls())
    for raw in candidates:
        tenant_id = uuid.UUID(raw)
        tenant = resources.load_tenant(tenant_id)
        if tenant is None or not tenant.is_active:
            if tenant is None:
                redis.srem(PENDING_TENANTS_KEY, str(tenant_id))
            continue
        if tenant.cluster not in clusters:
            log.error("tenants_on_unknown_cluster", tenants=1)
            continue  # one unreachable tenant must not stop the sweep of the others
        with resources.tenant_session(tenant) as session:
            waiting = pending_ids(session, older_than_seconds=60)
            still_queued = bool(pending_ids(session, older_than_seconds=0, limit=1))
        if not still_queued:
            redis.srem(PENDING_TENANTS_KEY, str(tenant_id))
        with tenant_scope(tenant):
            for message_id in waiting:
                deliver_message.send(str(message_id))


def enqueue_deliveries(tenant: TenantRef, message_ids: list[uuid.UUID]) -> None:
    """From a job, after commit: enqueue each message of ``tenant`` (ids only), and note the tenant for
    the sweeper (``outbox.after_commit.announce`` does the same from a page)."""

    redis = platform_resources().redis
    if message_ids and redis is not None:
        redis.sadd(PENDING_TENANTS_KEY, str(tenant.id))
    with tenant_scope(tenant):
        for message_id in message_ids:
            try:
                deliver_message.send(str(message_id))
            except Exception:  # broker down: the sweeper sends it once it is back
                log.warning("mail_enqueue_failed", message_id=str(message_id))


# When the scheduler enqueues them (collected by bippop.scheduler).
PERIODIC_JOBS = (
    PeriodicJob(sweep_outboxes, every={"minutes": 1}),
    # The daily safety net: every active tenant's outbox, whether it queued mail or not.
    PeriodicJob(sweep_outboxes, every={"hours": 24}, id="sweep_outboxes_full", message={"full": True}),
)
