"""The events module's own job: registrations are kept ``REGISTRATIONS_KEPT_DAYS`` after their event, then
deleted (who went to which lunch says much about a vulnerable person; a council needs it for its
figures of the year, not for ever). Daily, 03:15 Paris, one job per active tenant, whether the tenant has
the module switched on or off: switching it off hides the data, it does not keep it longer."""

from __future__ import annotations

import datetime

import dramatiq
import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import bippop.broker  # noqa: F401  (the worker's broker: its actors are sent and run there)
from bippop import clock as clocks
from bippop.jobs import PeriodicJob
from bippop.tenants.context import require_tenant
from bippop.tenants.jobs import enqueue_per_active_tenant
from bippop.tenants.resources import platform_resources
from bippop_modules.events.models import REGISTRATIONS_KEPT_DAYS, Event, EventRegistration

log = structlog.get_logger(__name__)


def purge_old_registrations(session: Session, *, now: datetime.datetime) -> int:
    """Delete the registrations of events that ended more than the kept days ago; returns how many."""
    ended_before = now - datetime.timedelta(days=REGISTRATIONS_KEPT_DAYS)
    old_events = select(Event.id).where(Event.ends_at < ended_before)
    result = session.execute(delete(EventRegistration).where(EventRegistration.event_id.in_(old_events)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dramatiq.actor(queue_name="modules", max_retries=5, min_backoff=10_000)
def purge_tenant_event_registrations() -> None:
    """The current tenant's old registrations (enqueued by ``purge_event_registrations``)."""
    with platform_resources().tenant_session(require_tenant()) as session, session.begin():
        deleted = purge_old_registrations(session, now=clocks.now())
    log.info("event_registrations_purged", deleted=deleted)


@dramatiq.actor(queue_name="modules", max_retries=0)
def purge_event_registrations() -> None:
    """Platform scope: one purge per active tenant."""
    enqueue_per_active_tenant(purge_tenant_event_registrations)


PERIODIC_JOBS = (
    PeriodicJob(purge_event_registrations, cron={"hour": 3, "minute": 15}, misfire_grace_time=6 * 3600),
)
