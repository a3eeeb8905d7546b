"""The wizard's background work, in platform scope (only ids travel): finishing a submitted sign-up,
resuming those whose job was lost, and the daily purge of expired drafts."""

from __future__ import annotations

import datetime
import uuid

import dramatiq
import structlog
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from bippop import clock
from bippop.jobs import PeriodicJob
from bippop.onboarding.models import Signup
from bippop.tenants.context import current_tenant, tenant_scope
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)

STALLED_AFTER_MINUTES = 5
DONE_KEPT = datetime.timedelta(days=30)


@dramatiq.actor(queue_name="platform", max_retries=0, time_limit=15 * 60 * 1000)
def finish_signup(signup_id: str) -> None:
    """Provision the sign-up's tenant and create its administrator; a failure is recorded on the sign-up
    (the council retries from its progress page; the co-op sees the error)."""
    from bippop.onboarding.wizard.finish import complete_signup
    from bippop.tenants.jobs import refill_spare_pool

    if current_tenant() is not None:  # a tenant's code never makes a tenant (nor reads a sign-up)
        log.error("signup_job_in_tenant_scope", signup_id=signup_id)
        return
    complete_signup(platform_resources(), uuid.UUID(signup_id))
    refill_spare_pool.send()


def enqueue_finish(signup_id: uuid.UUID) -> None:
    """Enqueue ``finish_signup`` in platform scope (no tenant stamped on the message)."""
    with tenant_scope(None):
        finish_signup.send(str(signup_id))


@dramatiq.actor(queue_name="platform", max_retries=0)
def resume_stalled_signups() -> None:
    """Periodic: a sign-up submitted long ago and still not done lost its job: enqueue it again."""
    cutoff = clock.now() - datetime.timedelta(minutes=STALLED_AFTER_MINUTES)
    with platform_resources().sessions()() as session:
        stalled = session.scalars(
            select(Signup.id).where(Signup.status == "submitted", Signup.updated_at < cutoff)
        ).all()
    for signup_id in stalled:
        enqueue_finish(signup_id)


def purge_expired(session: Session) -> int:
    """Delete the drafts past their expiry, and finished sign-ups a month after their end (the tenant
    holds what they gathered by then); returns how many."""
    now = clock.now()
    result = session.execute(
        delete(Signup).where(
            or_(
                and_(Signup.status == "draft", Signup.expires_at < now),
                and_(Signup.status == "done", Signup.updated_at < now - DONE_KEPT),
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dramatiq.actor(queue_name="platform", max_retries=3)
def purge_expired_signups() -> None:
    """Daily: drafts left 30 days without a change are deleted (what a stranger typed is not kept), and
    finished sign-ups 30 days after their end."""
    with platform_resources().sessions().begin() as session:
        purged = purge_expired(session)
    log.info("expired_signups_purged", count=purged)


PERIODIC_JOBS = (
    PeriodicJob(resume_stalled_signups, every={"minutes": 2}),
    PeriodicJob(purge_expired_signups, every={"hours": 24}),
)
