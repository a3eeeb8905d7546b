"""Delivery jobs: one message (by id, in its tenant's scope), and the sweeper for what was never sent."""

from __future__ import annotations

import uuid

import anyio.to_thread
import dramatiq
import structlog
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import text

import bippop.broker  # noqa: F401  (declares actors against the platform's broker)
from bippop.tenants.context import TenantRef, tenant_scope

log = structlog.get_logger(__name__)


@dramatiq.actor(queue_name="notifications", max_retries=8, min_backoff=5_000, max_backoff=600_000)
def deliver_message(message_id: str) -> None:
    """Send one outbox message of the current tenant (the job middleware restores the tenant)."""
    from bippop.notifications.services import DeliveryError, deliver
    from bippop.runtime.resources import platform_resources
    from bippop.tenants.context import require_tenant

    tenant = require_tenant()
    resources = platform_resources()
    host = f"{tenant.slug}.{resources.settings.base_domain}"
    with resources.tenant_session(tenant) as session:
        try:
            status = deliver(session, resources.settings, uuid.UUID(message_id), tenant_host=host)
        except DeliveryError as exc:
            session.commit()  # keep the attempt count and the error, then let dramatiq retry
            log.warning("mail_delivery_failed", message_id=message_id, error=str(exc))
            raise
        session.commit()
    log.info("mail_delivery", message_id=message_id, status=status)


PENDING_TENANTS_KEY = "bippop:outbox:tenants-with-pending"


async def announce(redis: AsyncRedis, tenant: TenantRef, message_ids: list[uuid.UUID]) -> None:
    """After commit: enqueue each message, and note the tenant for the sweeper, which then visits only
    tenants that queued mail (a daily full sweep catches anything else)."""
    await redis.sadd(PENDING_TENANTS_KEY, str(tenant.id))

    def send_all() -> None:
        with tenant_scope(tenant):
            for message_id in message_ids:
                try:
                    deliver_message.send(str(message_id))
                except Exception:  # broker down: the sweeper sends it once it is back
                    log.warning("mail_enqueue_failed", message_id=str(message_id))

    await anyio.to_thread.run_sync(send_all)


@dramatiq.actor(queue_name="notifications", max_retries=0)
def sweep_outboxes(full: bool = False) -> None:
    """Periodic: re-enqueue messages still pending after a minute (lost job, mail server down), in the
    tenants that queued mail since the last sweep that found their outbox empty (``full``: in every
    active tenant, the daily safety net)."""
    from bippop.notifications.services import pending_ids
    from bippop.runtime.resources import platform_resources

    resources = platform_resources()
    redis = resources.redis
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
    for raw in candidates:
        tenant_id = uuid.UUID(raw)
        tenant = resources.load_tenant(tenant_id)
        if tenant is None or not tenant.is_active:
            if tenant is None:
                redis.srem(PENDING_TENANTS_KEY, str(tenant_id))
            continue
        with resources.tenant_session(tenant) as session:
            waiting = pending_ids(session, older_than_seconds=60)
            still_queued = bool(pending_ids(session, older_than_seconds=0, limit=1))
        if not still_queued:
            redis.srem(PENDING_TENANTS_KEY, str(tenant_id))
        with tenant_scope(tenant):
            for message_id in waiting:
                deliver_message.send(str(message_id))
