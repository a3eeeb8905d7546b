"""An issued document's Factur-X PDF, stored under ``billing/<tenant id>/<number>.pdf``.

Outside ``tenants/<id>/`` on purpose: invoices outlive their tenant (closing a tenant deletes its
folder, never its invoices). The PDF is made after the invoice's commit: a rendering failure or a
storage outage records ``pdf_error`` and leaves ``pdf_key`` empty, the invoice and its number stay, and
``retry_missing`` (a periodic job) tries again.

A stored PDF is never made again: once its file is in the storage, « generate the PDF again » and the
retry leave it as it is (an invoice's document does not change), and a later failure never clears a
key already recorded (``outcome_update``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import Update, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bippop import clock
from bippop.billing.facturx import invoice_pdf
from bippop.billing.models import Invoice
from bippop.storage import Storage, StorageUnavailable, check_key

log = structlog.get_logger(__name__)

ROOT = "billing"
PDF_TYPE = "application/pdf"
RETRY_BATCH = 50


def document_key(invoice: Invoice) -> str:
    return check_key(f"{ROOT}/{invoice.tenant_id}/{invoice.number}.pdf")


@dataclasses.dataclass(frozen=True)
class DocumentOutcome:
    key: str | None
    error: str | None
    unknown: str | None = None  # the stored PDF could not be looked at (storage out): nothing to record


def make_pdf(invoice: Invoice, credited: Invoice | None) -> bytes:
    if credited is None:
        return invoice_pdf(invoice)
    return invoice_pdf(invoice, credited.number, credited.issue_date)


def store(storage: Storage, invoice: Invoice, credited: Invoice | None) -> DocumentOutcome:
    """Render and store the PDF; what happened (never raises for a rendering or storage failure). A
    PDF already stored under the invoice's key is kept, not made again."""
    key = document_key(invoice)
    if invoice.pdf_key:
        try:
            if storage.exists(invoice.pdf_key):
                return DocumentOutcome(invoice.pdf_key, None)
        except (StorageUnavailable, OSError) as exc:
            # Most likely still there: nothing is recorded against a PDF that may be fine (it is
            # looked at again when someone asks for it).
            return DocumentOutcome(None, None, unknown=f"storage: {type(exc).__name__}")
    try:
        pdf = make_pdf(invoice, credited)
    except Exception as exc:
        log.exception("invoice_pdf_render_failed", invoice_id=str(invoice.id))
        return DocumentOutcome(None, f"render: {type(exc).__name__}")
    try:
        storage.put(key, pdf, PDF_TYPE)
    except (StorageUnavailable, OSError) as exc:
        log.warning("invoice_pdf_store_failed", invoice_id=str(invoice.id), error=type(exc).__name__)
        return DocumentOutcome(None, f"storage: {type(exc).__name__}")
    return DocumentOutcome(key, None)


def outcome_update(invoice_id: uuid.UUID, outcome: DocumentOutcome) -> Update:
    """The one change an issued invoice allows: its PDF's key or error (sync or async session). A
    failure records its error only: a key already recorded stays."""
    found = update(Invoice).where(Invoice.id == invoice_id)
    if outcome.key is None:
        if outcome.error is None:  # nothing learnt (``unknown``): only the time it was tried
            return found.values(updated_at=clock.now())
        return found.values(pdf_error=outcome.error, updated_at=clock.now())
    return found.values(pdf_key=outcome.key, pdf_error=None, updated_at=clock.now())


def credited_by(session: Session, invoice: Invoice) -> Invoice | None:
    if invoice.credits_invoice_id is None:
        return None
    return session.get(Invoice, invoice.credits_invoice_id)


def store_pdf(sessions: sessionmaker[Session], storage: Storage, invoice_id: uuid.UUID) -> DocumentOutcome:
    """Make and store one invoice's PDF and record the outcome (its own transactions)."""
    with sessions() as session:
        invoice = session.get_one(Invoice, invoice_id)
        credited = credited_by(session, invoice)
    outcome = store(storage, invoice, credited)
    with sessions.begin() as session:
        session.execute(outcome_update(invoice_id, outcome))
    return outcome


def retry_missing(
    sessions: sessionmaker[Session],
    storage: Storage,
    limit: int = RETRY_BATCH,
    *,
    tenant_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """The documents whose PDF is not stored (or failed since) made again, those tried longest ago first (a document that
    keeps failing goes to the back: it never starves the others); how many are now stored."""
    # Without a key, or with a failure recorded since (a stored file lost, then not made again).
    query = select(Invoice.id).where(or_(Invoice.pdf_key.is_(None), Invoice.pdf_error.is_not(None)))
    if tenant_ids is not None:
        query = query.where(Invoice.tenant_id.in_(list(tenant_ids)))
    with sessions() as session:
        ids = list(session.scalars(query.order_by(Invoice.updated_at, Invoice.id).limit(limit)))
    stored = sum(1 for invoice_id in ids if store_pdf(sessions, storage, invoice_id).key is not None)
    if ids:
        log.info("invoice_pdfs_retried", tried=len(ids), stored=stored)
    return stored


def read_pdf(storage: Storage, invoice: Invoice) -> bytes | None:
    """The stored PDF, or None when it is not stored (yet, or any more) or the storage is out."""
    if not invoice.pdf_key or not invoice.pdf_key.startswith(f"{ROOT}/{invoice.tenant_id}/"):
        return None  # a key outside the invoice's own tenant folder is never served
    try:
        return storage.get(invoice.pdf_key)
    except (FileNotFoundError, StorageUnavailable):
        return None
