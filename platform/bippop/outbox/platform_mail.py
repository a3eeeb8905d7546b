"""The platform's own mail, sent before or outside any tenant (a council's sign-up, the public contact
form): rows of ``platform.outbox_messages``, written in the transaction of the change they announce and
announced after commit, like a tenant's (``writing`` and ``after_commit``).

The delivery job is enqueued by its name with no tenant stamped on the message, so the worker runs it
in platform scope (``tenants/job_middleware.py``); ``bippop.notifications`` declares it, sends through
the same mail server as tenant mail and its sweeper resends what was never confirmed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import anyio.to_thread
import structlog
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop.broker import enqueue_by_name
from bippop.outbox.after_commit import DELIVERY_QUEUE
from bippop.outbox.models import PlatformOutboxMessage
from bippop.tenants.context import tenant_scope

log = structlog.get_logger(__name__)

# The platform's delivery job, declared by ``bippop.notifications.jobs`` under this name.
PLATFORM_DELIVERY_ACTOR = "deliver_platform_message"
# Set while platform mail waits: the sweeper then looks at the platform outbox (a daily sweep anyway).
PLATFORM_PENDING_KEY = "bippop:outbox:platform-pending"
# Purposes whose body holds a secret (a sign-up's code and resume link): emptied once delivered or
# given up on.
SECRET_PLATFORM_PURPOSES = frozenset({"signup_code", "staff_enrolment"})


def queue_platform_email(
    session: AsyncSession | Session,
    *,
    purpose: str,
    recipient: str,
    subject: str,
    body: str,
    reply_to: str | None = None,
    dedupe_key: str | None = None,
) -> PlatformOutboxMessage:
    """Add one e-mail to the platform outbox (``session.add`` only: a sync or an async session, and the
    id is known at once, so the caller announces it after its commit)."""
    message = PlatformOutboxMessage(
        id=uuid.uuid4(),
        purpose=purpose[:40],
        recipient=recipient[:254],
        reply_to=reply_to[:254] if reply_to else None,
        subject=subject[:200],
        body=body,
        status="pending",
        attempts=0,
        dedupe_key=dedupe_key,
    )
    session.add(message)
    return message


def enqueue_platform_deliveries(message_ids: Sequence[uuid.UUID]) -> None:
    """Enqueue each message's delivery in platform scope (no tenant on the job); the broker being down
    only delays them: the sweeper sends them once it is back."""
    with tenant_scope(None):
        for message_id in message_ids:
            try:
                enqueue_by_name(DELIVERY_QUEUE, PLATFORM_DELIVERY_ACTOR, str(message_id))
            except Exception:
                log.warning("platform_mail_enqueue_failed", message_id=str(message_id))


async def announce_platform(redis: AsyncRedis, message_ids: Sequence[uuid.UUID]) -> None:
    """After commit: note that platform mail waits (for the sweeper), then enqueue each delivery."""
    if not message_ids:
        return
    await redis.set(PLATFORM_PENDING_KEY, "1")
    ids = list(message_ids)
    await anyio.to_thread.run_sync(lambda: enqueue_platform_deliveries(ids))
