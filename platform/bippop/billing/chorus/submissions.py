"""An invoice's way to Chorus Pro, as ``invoice_submissions`` rows: what may go, the deposit through
the API, what became of it, and the operator's own marks for what went by the portal.

- **One at a time.** Whoever deposits or checks an invoice holds a transaction-level advisory lock on
  it (the periodic job skips one held by the console, and the other way round), and reads its latest
  submission again under that lock: an invoice is never deposited twice.
- **May go** an issued invoice or credit note that has no submission yet (or only a failed one, when an
  operator asks again), whose buyer has the engagement number it requires, and whose tenant has no
  unresolved billing hold (``billing_holds``: an operator is looking at its billing).
- **Statuses.** A deposit Chorus Pro took is ``deposited`` (``remote_id``: the flux number); Chorus Pro
  unavailable (timeout, 5xx) leaves it ``pending`` without a ``remote_id``, tried again later (a call
  that timed out may have been taken all the same: before depositing again, the invoice's number is
  looked up on Chorus Pro, and one found there is recorded as it stands, never deposited twice); a refusal
  (4xx, bad credentials) is ``failed`` with Chorus Pro's words in ``reason``. Checking then moves it to
  ``rejected`` (with the reason) or ``paid``.

The functions take a sync ``Session``: the console calls them through ``AsyncSession.run_sync`` and
keeps the slow parts (the PDF, the HTTP calls: :func:`transmit`, :func:`check`) in a worker thread.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bippop import clock
from bippop.billing import facturx
from bippop.billing.chorus.client import (
    DEPOSITED,
    PAID,
    REJECTED,
    ChorusClient,
    ChorusError,
    ChorusRefused,
    RemoteStatus,
)
from bippop.billing.models import BillingHold, BillingProfile, Invoice, InvoiceSubmission
from bippop.storage import Storage, StorageUnavailable

log = structlog.get_logger(__name__)

API, EXPORT = "api", "export"
PENDING, FAILED = "pending", "failed"
MAX_REASON = 500
MARKS = (DEPOSITED, REJECTED, PAID)  # what an operator may say of an exported invoice

# Refusal codes (the console words them).
NOT_FOUND = "not_found"
BUSY = "busy"
ENGAGEMENT_MISSING = "engagement_missing"
HELD = "held"
ALREADY_SUBMITTED = "already_submitted"


def lock(session: Session, invoice_id: uuid.UUID, *, wait: bool = False) -> bool:
    """Hold the invoice's Chorus lock until the transaction ends; False if someone else holds it."""
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    got = session.execute(
        text(f"select {function}(hashtextextended(:key, 0))"), {"key": f"chorus:{invoice_id}"}
    ).scalar()
    return wait or bool(got)


def latest(session: Session, invoice_id: uuid.UUID) -> InvoiceSubmission | None:
    return session.scalars(
        select(InvoiceSubmission)
        .where(InvoiceSubmission.invoice_id == invoice_id)
        .order_by(InvoiceSubmission.created_at.desc(), InvoiceSubmission.id.desc())
        .limit(1)
    ).first()


def engagement_missing(session: Session, invoice: Invoice) -> bool:
    """The buyer requires an engagement number and the invoice does not carry one."""
    if invoice.buyer.get("engagement_number"):
        return False
    if invoice.buyer.get("engagement_required"):
        return True
    profile = session.get(BillingProfile, invoice.tenant_id)
    return bool(profile is not None and profile.engagement_required)


def held(session: Session, invoice: Invoice) -> bool:
    found = session.scalar(
        select(func.count())
        .select_from(BillingHold)
        .where(BillingHold.tenant_id == invoice.tenant_id, BillingHold.resolved_at.is_(None))
    )
    return bool(found)


def is_retry(submission: InvoiceSubmission | None) -> bool:
    """An API deposit that Chorus Pro never took (it was unavailable): to be tried again."""
    return (
        submission is not None
        and submission.channel == API
        and submission.status == PENDING
        and submission.remote_id is None
    )


def refusal(
    session: Session, invoice: Invoice, submission: InvoiceSubmission | None, *, by_hand: bool
) -> str | None:
    """Why ``invoice`` may not be deposited now (None: it may)."""
    retry = is_retry(submission) or (by_hand and submission is not None and submission.status == FAILED)
    if submission is not None and not retry:
        return ALREADY_SUBMITTED
    if engagement_missing(session, invoice):
        return ENGAGEMENT_MISSING
    if held(session, invoice):
        return HELD
    return None


@dataclasses.dataclass
class Claim:
    invoice: Invoice
    credited: Invoice | None  # the invoice a credit note corrects
    submission: InvoiceSubmission | None  # the one to try again, if any


def claim(session: Session, invoice_id: uuid.UUID, *, by_hand: bool) -> Claim | str:
    """Lock ``invoice_id`` for a deposit: the claim, or a refusal code."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        return NOT_FOUND
    if not lock(session, invoice_id):
        return BUSY
    submission = latest(session, invoice_id)
    refused = refusal(session, invoice, submission, by_hand=by_hand)
    if refused is not None:
        return refused
    credited = session.get(Invoice, invoice.credits_invoice_id) if invoice.credits_invoice_id else None
    return Claim(invoice, credited, submission if is_retry(submission) else None)


def pdf_of(storage: Storage, invoice: Invoice, credited: Invoice | None) -> bytes:
    """The invoice's stored Factur-X PDF, or the same rendered again when it is not stored (yet)."""
    if invoice.pdf_key:
        try:
            return storage.get(invoice.pdf_key)
        except (FileNotFoundError, StorageUnavailable):
            log.warning("invoice_pdf_not_found", invoice_id=str(invoice.id))
    return facturx.invoice_pdf(
        invoice,
        credited.number if credited else None,
        credited.issue_date if credited else None,
    )


def filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"


@dataclasses.dataclass(frozen=True)
class Attempt:
    flux_id: str | None = None
    error: ChorusError | None = None
    found: RemoteStatus | None = None  # a retry found the invoice already on Chorus Pro (flux_id: its id)


def transmit(client: ChorusClient, storage: Storage, claimed: Claim) -> Attempt:
    """Deposit the claimed invoice (slow: the PDF, then the call); never raises for Chorus Pro. A retry
    first looks the invoice up: the earlier call may have been taken without an answer reaching us."""
    try:
        if claimed.submission is not None:
            listed = client.find(claimed.invoice.number)
            if listed is not None:
                return Attempt(flux_id=listed[0], found=listed[1])
        pdf = pdf_of(storage, claimed.invoice, claimed.credited)
        return Attempt(flux_id=client.deposit(pdf, filename(claimed.invoice)).flux_id)
    except ChorusError as exc:
        return Attempt(error=exc)


def record(session: Session, claimed: Claim, attempt: Attempt) -> InvoiceSubmission:
    """The submission row the attempt leaves (the caller commits)."""
    submission = claimed.submission or InvoiceSubmission(
        id=uuid.uuid4(), invoice_id=claimed.invoice.id, channel=API, status=PENDING
    )
    submission.checked_at = clock.now()
    if attempt.found is not None:
        submission.status, submission.remote_id = attempt.found.status or DEPOSITED, attempt.flux_id
        submission.reason = attempt.found.reason if submission.status == REJECTED else None
    elif attempt.flux_id is not None:
        submission.status, submission.remote_id, submission.reason = DEPOSITED, attempt.flux_id, None
    elif isinstance(attempt.error, ChorusRefused):
        submission.status, submission.reason = FAILED, attempt.error.reason
    else:
        submission.status = PENDING
        submission.reason = attempt.error.reason if attempt.error else None
    session.add(submission)
    session.flush()
    log.info(
        "chorus_deposit",
        invoice_id=str(claimed.invoice.id),
        submission_id=str(submission.id),
        status=submission.status,
    )
    return submission


def deposit_one(
    session: Session, client: ChorusClient, storage: Storage, invoice_id: uuid.UUID, *, by_hand: bool = False
) -> InvoiceSubmission | str:
    """Claim, deposit and record, in the caller's transaction (held across the call)."""
    claimed = claim(session, invoice_id, by_hand=by_hand)
    if isinstance(claimed, str):
        return claimed
    return record(session, claimed, transmit(client, storage, claimed))


# What became of it ---------------------------------------------------------------------------------


def claim_check(session: Session, submission_id: uuid.UUID) -> tuple[InvoiceSubmission, Invoice] | None:
    """Lock a deposited submission to check it; None if it is gone, not an API one, or busy."""
    submission = session.get(InvoiceSubmission, submission_id)
    if submission is None or submission.channel != API or submission.remote_id is None:
        return None
    if submission.status not in (PENDING, DEPOSITED) or not lock(session, submission.invoice_id):
        return None
    session.refresh(submission)
    invoice = session.get(Invoice, submission.invoice_id)
    return (submission, invoice) if invoice is not None else None


def check(
    client: ChorusClient, submission: InvoiceSubmission, invoice: Invoice
) -> RemoteStatus | ChorusError:
    try:
        return client.status(str(submission.remote_id), invoice.number)
    except ChorusError as exc:
        return exc


def apply(session: Session, submission: InvoiceSubmission, found: RemoteStatus | ChorusError) -> None:
    """Write what Chorus Pro said (a failed check changes nothing but the time it was tried)."""
    submission.checked_at = clock.now()
    if isinstance(found, RemoteStatus) and found.status is not None:
        submission.status = found.status
        submission.reason = found.reason if found.status == REJECTED else None
    session.add(submission)
    session.flush()
    log.info(
        "chorus_checked",
        submission_id=str(submission.id),
        status=submission.status,
        failed=isinstance(found, ChorusError),
    )


def poll_one(session: Session, client: ChorusClient, submission_id: uuid.UUID) -> InvoiceSubmission | None:
    claimed = claim_check(session, submission_id)
    if claimed is None:
        return None
    submission, invoice = claimed
    apply(session, submission, check(client, submission, invoice))
    return submission


# An operator's marks (exports deposited by hand on the portal) ---------------------------------------


def mark(
    session: Session, submission_id: uuid.UUID, status: str, reason: str | None
) -> InvoiceSubmission | str:
    """Record what the portal shows of an exported invoice; the submission, or a refusal code."""
    submission = session.get(InvoiceSubmission, submission_id)
    if submission is None or submission.channel != EXPORT:
        return NOT_FOUND
    lock(session, submission.invoice_id, wait=True)
    session.refresh(submission)  # as it is now, under the lock: another mark may have ended it
    if status not in MARKS or submission.status in (REJECTED, PAID):
        return ALREADY_SUBMITTED
    submission.status = status
    submission.reason = ((reason or "")[:MAX_REASON] or None) if status == REJECTED else None
    submission.checked_at = clock.now()
    session.add(submission)
    session.flush()
    return submission


def recent_cutoff(days: int) -> datetime.date:
    return clock.today() - datetime.timedelta(days=days)
