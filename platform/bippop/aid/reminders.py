"""Messages the help-request domain plans on its own: appointment reminders (every 10 minutes) and the
volunteers' daily digest of the requests offered to them (17:00, Paris).

Both fan out from platform scope to one job per active tenant; the tenant job plans (``plan_reminders``
/ ``plan_digests``, which take ``now`` so that tests can travel in time), commits, then hands the outbox
ids to ``notifications.jobs.enqueue_deliveries``. A retried job finds the appointments already reminded
and the offers already digested, and the dedupe keys make a second write impossible anyway. The actors
keep their names and queue (``notifications``) from before they moved here: jobs already enqueued run.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Callable

import dramatiq
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

import bippop.broker  # noqa: F401  (declares actors against the platform's broker)
from bippop import clock
from bippop.accounts.models import Person
from bippop.aid.models import Appointment, HelpRequest, RequestOffer
from bippop.aid.notices import digest_sync, notify_sync
from bippop.config import Settings
from bippop.jobs import PeriodicJob
from bippop.notifications.jobs import enqueue_deliveries
from bippop.tenants.context import require_tenant
from bippop.tenants.jobs import enqueue_per_active_tenant
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)
REMINDER_WINDOW = datetime.timedelta(hours=24)


def plan_reminders(session: Session, *, now: datetime.datetime, settings: Settings) -> list[uuid.UUID]:
    """Remind the person helped and the volunteer of each appointment starting within 24 hours that was
    not reminded yet; returns the outbox ids to deliver after commit. Appointments are locked (skip
    locked), so two runs at once never take the same one, and each reminder has its dedupe key."""
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


def plan_digests(session: Session, *, now: datetime.datetime, settings: Settings) -> list[uuid.UUID]:
    """One message per volunteer listing the requests offered to them since their last digest (still
    waiting for a volunteer); those offers are then marked as sent. Returns the outbox ids."""
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
    """Plan in the current tenant's scope with the job's settings, commit, then enqueue each message."""
    tenant = require_tenant()
    resources = platform_resources()
    with resources.tenant_session(tenant) as session:
        ids = plan(session, now=clock.now(), settings=resources.settings)
        session.commit()
    enqueue_deliveries(tenant, ids)
    log.info(label, messages=len(ids))
    return ids


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


# Declared by aid/jobs.py with the domain's other periodic jobs (collected by bippop.scheduler).
PERIODIC_JOBS = (
    PeriodicJob(send_reminders, every={"minutes": 10}),
    # Once a day, at 17:00 Paris time (the scheduler's time zone).
    PeriodicJob(send_digests, cron={"hour": 17, "minute": 0}, misfire_grace_time=3600),
)
