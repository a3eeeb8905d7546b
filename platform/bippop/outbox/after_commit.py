"""The one place a web request commits its change and then announces the outbox messages it wrote:
a message is sent only once its change is committed (a rolled-back change sends nothing).

Announcing enqueues ``bippop.notifications``'s delivery job by its name (this layer is below the
notifications and cannot import the actor), in the tenant's scope, and notes the tenant for the
sweeper, which then visits only tenants that queued mail (a daily full sweep catches anything else).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import anyio.to_thread
import structlog
from litestar import Request
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.broker import enqueue_by_name
from bippop.tenants.context import TenantRef, tenant_scope
from bippop.tenants.resolution import Site

log = structlog.get_logger(__name__)

# The delivery job, declared by ``bippop.notifications.jobs`` under these names.
DELIVERY_ACTOR = "deliver_message"
DELIVERY_QUEUE = "notifications"
# Tenants that queued mail since the sweeper last found their outbox empty.
PENDING_TENANTS_KEY = "bippop:outbox:tenants-with-pending"


async def announce(redis: AsyncRedis, tenant: TenantRef, message_ids: list[uuid.UUID]) -> None:
    """After commit: enqueue each message's delivery (ids only), and note the tenant for the sweeper."""
    await redis.sadd(PENDING_TENANTS_KEY, str(tenant.id))

    def send_all() -> None:
        with tenant_scope(tenant):
            for message_id in message_ids:
                try:
                    enqueue_by_name(DELIVERY_QUEUE, DELIVERY_ACTOR, str(message_id))
                except Exception:  # broker down: the sweeper sends it once it is back
                    log.warning("mail_enqueue_failed", message_id=str(message_id))

    await anyio.to_thread.run_sync(send_all)


def announce_sync(redis: Redis | None, tenant: TenantRef, message_ids: Sequence[uuid.UUID]) -> None:
    """``announce`` for code without an event loop (the CLI): the broker must be configured."""
    if redis is not None:
        try:
            redis.sadd(PENDING_TENANTS_KEY, str(tenant.id))
        except Exception:  # Redis down: the daily full sweep still finds the message
            log.warning("mail_pending_note_failed", tenant=str(tenant.id))
    with tenant_scope(tenant):
        for message_id in message_ids:
            try:
                enqueue_by_name(DELIVERY_QUEUE, DELIVERY_ACTOR, str(message_id))
            except Exception:  # broker down: the sweeper sends it once it is back
                log.warning("mail_enqueue_failed", message_id=str(message_id))


async def commit_and_announce(
    request: Request, db_session: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> None:
    await db_session.commit()
    if message_ids:
        site: Site = request.state.site
        assert site.tenant is not None  # outbox rows live in a tenant's schema
        await announce(request.app.state.redis, site.tenant, list(message_ids))
