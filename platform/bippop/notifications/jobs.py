"""Notification jobs: delivering one message (by id, in its tenant's scope), the sweeper for what was
never sent, appointment reminders (every 10 minutes) and the volunteers' daily digest (17:00).

Reminders and digests fan out from platform scope to one job per active tenant; the tenant job
plans (``plan_reminders`` / ``plan_digests``, which take ``now`` so that tests can travel in time),
commits, then enqueues the deliveries. A retried job finds the appointments already reminded and the
offers already digested, and the dedupe keys make a second write impossible anyway.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Callable

import anyio.to_thread
import dramatiq
import structlog
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import bippop.broker  # noqa: F401  (declares actors against the platform's broker)
from bippop import clock
from bippop.config import Settings
from bippop.jobs import PeriodicJob
from bippop.tenants.context import TenantRef, require_tenant, tenant_scope
from bippop.tenants.jobs import enqueue_per_active_tenant
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)


@dramatiq.actor(queue_name="notifications", max_retries=8, min_backoff=5_000, max_backoff=600_000)
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


# Reminders and digests -------------------------------------------------------------------------

REMINDER_WINDOW = datetime.timedelta(hours=24)


def plan_reminders(
    session: Session, *, now: datetime.datetime, settings: Settings | None = None
) -> list[uuid.UUID]:
    """Remind the person helped and the volunteer of each appointment starting within 24 hours that was
    not reminded yet; returns the outbox ids to deliver after commit. Appointments are locked (skip
    locked), so two runs at once never take the same one, and each reminder has its dedupe key."""
    from bippop.aid.models import Appointment, HelpRequest
    from bippop.notifications.dispatch import notify_sync

    appointments = session.scalars(
        select(Appointment)
        .where(
            Appointment.status == "scheduled",
            Appointment.reminded_at.is_(None),
            Appointment.starts_at > now,
            Appointment.starts_at <= now + REMINDER_WINDOW,
        )
        .order_by(Appointment.starts_at)
        .limit(500)
        .with_for_update(skip_locked=True)
    ).all()
    ids: list[uuid.UUID] = []
    for appointment in appointments:
        request = session.get(HelpRequest, appointment.request_id)
        if request is not None:
            for person_id in dict.fromkeys((request.beneficiary_id, appointment.volunteer_id)):
                ids.extend(
                    notify_sync(
                        session,
                        person_id=person_id,
                        purpose="appointment_reminder",
                        request_id=request.id,
                        appointment_id=appointment.id,
                        dedupe_key=f"reminder:{appointment.id}:{person_id}",
                        settings=settings,
                        now=now,
                    )
                )
        appointment.reminded_at = now
    return ids


def plan_digests(
    session: Session, *, now: datetime.datetime, settings: Settings | None = None
) -> list[uuid.UUID]:
    """One message per volunteer listing the requests offered to them since their last digest (still
    waiting for a volunteer); those offers are then marked as sent. Returns the outbox ids."""
    from bippop.accounts.models import Person
    from bippop.aid.models import HelpRequest, RequestOffer
    from bippop.notifications.dispatch import digest_sync

    rows = session.execute(
        select(RequestOffer, HelpRequest)
        .join(HelpRequest, HelpRequest.id == RequestOffer.request_id)
        .where(
            RequestOffer.digest_sent_at.is_(None),
            RequestOffer.declined_at.is_(None),
            HelpRequest.status.in_(("open", "offered")),
            HelpRequest.volunteer_id.is_(None),
        )
        .order_by(RequestOffer.volunteer_id, RequestOffer.offered_at, RequestOffer.id)
        .with_for_update(of=RequestOffer, skip_locked=True)
    ).all()
    by_volunteer: dict[uuid.UUID, list[tuple[RequestOffer, HelpRequest]]] = {}
    for offer, request in rows:
        by_volunteer.setdefault(offer.volunteer_id, []).append((offer, request))
    ids: list[uuid.UUID] = []
    for volunteer_id, pairs in by_volunteer.items():
        volunteer = session.get(Person, volunteer_id)
        if volunteer is None:
            continue
        offers = [offer for offer, _request in pairs]
        fingerprint = hashlib.sha256(",".join(sorted(str(o.id) for o in offers)).encode()).hexdigest()[:16]
        ids.extend(
            digest_sync(
                session,
                volunteer,
                [request for _offer, request in pairs],
                dedupe_key=f"digest:{volunteer_id}:{fingerprint}",
                settings=settings,
            )
        )
        for offer in offers:
            offer.digest_sent_at = now
    return ids


def _run_for_current_tenant(plan: Callable[..., list[uuid.UUID]], label: str) -> list[uuid.UUID]:
    """Plan in the current tenant's scope, commit, then enqueue each message (ids only)."""

    tenant = require_tenant()
    resources = platform_resources()
    with resources.tenant_session(tenant) as session:
        ids = plan(session, now=clock.now(), settings=resources.settings)
        session.commit()
    enqueue_deliveries(tenant, ids)
    log.info(label, messages=len(ids))
    return ids


def enqueue_deliveries(tenant: TenantRef, message_ids: list[uuid.UUID]) -> None:
    """From a job, after commit: enqueue each message of ``tenant`` (ids only), and note the tenant for
    the sweeper (``announce`` does the same from a page)."""

    redis = platform_resources().redis
    if message_ids and redis is not None:
        redis.sadd(PENDING_TENANTS_KEY, str(tenant.id))
    with tenant_scope(tenant):
        for message_id in message_ids:
            try:
                deliver_message.send(str(message_id))
            except Exception:  # broker down: the sweeper sends it once it is back
                log.warning("mail_enqueue_failed", message_id=str(message_id))


@dramatiq.actor(queue_name="notifications", max_retries=5, min_backoff=10_000)
def remind_tenant() -> None:
    """The current tenant's reminders (enqueued by ``send_reminders``)."""
    _run_for_current_tenant(plan_reminders, "reminders_planned")


@dramatiq.actor(queue_name="notifications", max_retries=5, min_backoff=10_000)
def digest_tenant() -> None:
    """The current tenant's volunteer digests (enqueued by ``send_digests``)."""
    _run_for_current_tenant(plan_digests, "digests_planned")


@dramatiq.actor(queue_name="notifications", max_retries=0)
def send_reminders() -> None:
    """Periodic (every 10 minutes): one ``remind_tenant`` job per active tenant."""
    enqueue_per_active_tenant(remind_tenant)


@dramatiq.actor(queue_name="notifications", max_retries=0)
def send_digests() -> None:
    """Daily at 17:00 (Paris): one ``digest_tenant`` job per active tenant."""
    enqueue_per_active_tenant(digest_tenant)


# When the scheduler enqueues them (collected by bippop.scheduler).
PERIODIC_JOBS = (
    PeriodicJob(sweep_outboxes, every={"minutes": 1}),
    PeriodicJob(send_reminders, every={"minutes": 10}),
    # The daily safety net: every active tenant's outbox, whether it queued mail or not.
    PeriodicJob(sweep_outboxes, every={"hours": 24}, id="sweep_outboxes_full", message={"full": True}),
    # The volunteers' digest: once a day, at 17:00 Paris time (the scheduler's time zone).
    PeriodicJob(send_digests, cron={"hour": 17, "minute": 0}, misfire_grace_time=3600),
)
