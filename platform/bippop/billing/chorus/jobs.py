"""Chorus Pro's background work, in platform scope (only ids travel): every quarter of an hour, when
the API is configured, deposit the invoices issued lately and not yet submitted (and try again those
Chorus Pro could not take), then check what became of those deposited."""

from __future__ import annotations

import datetime
import uuid

import dramatiq
import structlog
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased

from bippop import clock
from bippop.billing.chorus import submissions
from bippop.billing.chorus.client import DEPOSITED, ChorusClient, ChorusConfig
from bippop.billing.chorus.submissions import API, PENDING
from bippop.billing.models import Invoice, InvoiceSubmission
from bippop.jobs import PeriodicJob
from bippop.storage import storage_from_settings
from bippop.tenants.context import current_tenant, tenant_scope
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)

AUTO_DEPOSIT_DAYS = 60  # older invoices without a submission went by hand before the API was set
RETRY_AFTER = datetime.timedelta(minutes=10)
CHECK_EVERY = datetime.timedelta(hours=1)
BATCH = 200


def due_deposits(session: Session) -> list[uuid.UUID]:
    """Invoices the job deposits now: issued in the last days, never submitted (or whose deposit
    Chorus Pro could not take a while ago), with their engagement number, not held."""
    later = aliased(InvoiceSubmission)
    now = clock.now()
    never = ~exists().where(InvoiceSubmission.invoice_id == Invoice.id)
    retry = exists().where(
        later.invoice_id == Invoice.id,
        later.channel == API,
        later.status == PENDING,
        later.remote_id.is_(None),
        or_(later.checked_at.is_(None), later.checked_at < now - RETRY_AFTER),
    )
    invoices = session.scalars(
        select(Invoice)
        .where(Invoice.issue_date >= submissions.recent_cutoff(AUTO_DEPOSIT_DAYS), or_(never, retry))
        .order_by(Invoice.year, Invoice.sequence)
        .limit(BATCH)
    ).all()
    return [
        invoice.id
        for invoice in invoices
        if submissions.refusal(session, invoice, submissions.latest(session, invoice.id), by_hand=False)
        is None
    ]


def due_checks(session: Session) -> list[uuid.UUID]:
    """Deposited submissions not checked for an hour."""
    now = clock.now()
    return list(
        session.scalars(
            select(InvoiceSubmission.id)
            .where(
                InvoiceSubmission.channel == API,
                InvoiceSubmission.remote_id.is_not(None),
                InvoiceSubmission.status.in_((PENDING, DEPOSITED)),
                or_(
                    InvoiceSubmission.checked_at.is_(None),
                    InvoiceSubmission.checked_at < now - CHECK_EVERY,
                ),
            )
            .order_by(InvoiceSubmission.checked_at.nulls_first())
            .limit(BATCH)
        )
    )


def _config() -> ChorusConfig | None:
    return ChorusConfig.from_settings(platform_resources().settings)


def _in_tenant_scope(what: str, target: str) -> bool:
    if current_tenant() is not None:  # a tenant's code never reads the co-op's invoices
        log.error("chorus_job_in_tenant_scope", job=what, target=target)
        return True
    return False


@dramatiq.actor(queue_name="platform", max_retries=0, time_limit=5 * 60 * 1000)
def chorus_deposit(invoice_id: str) -> None:
    """Deposit one invoice through the API (nothing when it was deposited meanwhile)."""
    config = _config()
    if config is None or _in_tenant_scope("deposit", invoice_id):
        return
    resources = platform_resources()
    with ChorusClient(config) as client, resources.sessions().begin() as session:
        submissions.deposit_one(
            session, client, storage_from_settings(resources.settings), uuid.UUID(invoice_id)
        )


@dramatiq.actor(queue_name="platform", max_retries=0, time_limit=2 * 60 * 1000)
def chorus_check(submission_id: str) -> None:
    """Ask Chorus Pro what became of one deposit."""
    config = _config()
    if config is None or _in_tenant_scope("check", submission_id):
        return
    with ChorusClient(config) as client, platform_resources().sessions().begin() as session:
        submissions.poll_one(session, client, uuid.UUID(submission_id))


@dramatiq.actor(queue_name="platform", max_retries=0)
def chorus_sweep() -> None:
    """Periodic: enqueue the deposits and the checks that are due (nothing when the API is off)."""
    if _config() is None:
        return
    with platform_resources().sessions()() as session:
        deposits, checks = due_deposits(session), due_checks(session)
    with tenant_scope(None):
        for invoice_id in deposits:
            chorus_deposit.send(str(invoice_id))
        for submission_id in checks:
            chorus_check.send(str(submission_id))
    log.info("chorus_sweep", deposits=len(deposits), checks=len(checks))


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (PeriodicJob(chorus_sweep, every={"minutes": 15}),)
