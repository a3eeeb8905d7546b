"""What the co-op deposits by hand on the Chorus Pro portal: for a month (or chosen invoices), a ZIP of
their Factur-X PDFs with a CSV manifest (``manifeste.csv``: number, buyer SIRET, service code,
engagement number, totals, due date, file) and, when some were left out, ``exclues.csv`` with why.

Exporting records an ``export`` submission, ``pending``, for each invoice it holds (none twice: an
invoice exported before and not yet marked is exported again without a new row). Left out: an invoice
whose buyer requires an engagement number the invoice does not carry, one whose tenant's billing is on
hold (an unresolved ``billing_holds`` row: an operator is looking at it), and one already on its way
(deposited through the API, or marked by an operator). An export holds at most ``MAX_INVOICES``
invoices (``Plan.more`` says a month has more: choose them by hand for the rest).

The manifest's text cells are the buyer's (typed in the public sign-up wizard): one a spreadsheet would
take for a formula is kept as text (``bippop.billing.spreadsheet``).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import uuid
import zipfile
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bippop.billing.chorus import submissions
from bippop.billing.chorus.submissions import EXPORT, PENDING
from bippop.billing.models import Invoice, InvoiceSubmission
from bippop.billing.spreadsheet import safe_cell
from bippop.storage import Storage

MANIFEST = "manifeste.csv"
EXCLUDED = "exclues.csv"
MAX_INVOICES = 500
COLUMNS = (
    "numero",
    "type",
    "date_emission",
    "date_echeance",
    "acheteur",
    "siret_acheteur",
    "code_service",
    "numero_engagement",
    "total_ht",
    "total_tva",
    "total_ttc",
    "fichier",
)


@dataclasses.dataclass
class Plan:
    included: list[Invoice] = dataclasses.field(default_factory=list)
    excluded: list[tuple[Invoice, str]] = dataclasses.field(default_factory=list)  # (invoice, code)
    again: set[uuid.UUID] = dataclasses.field(default_factory=set)  # exported before, not yet marked
    credited: dict[uuid.UUID, Invoice] = dataclasses.field(default_factory=dict)
    more: bool = False  # the month has more than MAX_INVOICES invoices: the first ones only


def month_bounds(month: datetime.date) -> tuple[datetime.date, datetime.date]:
    start = month.replace(day=1)
    following = (start + datetime.timedelta(days=32)).replace(day=1)
    return start, following


def _candidates(
    session: Session, month: datetime.date | None, invoice_ids: Sequence[uuid.UUID] | None
) -> list[Invoice]:
    query = select(Invoice).order_by(Invoice.year, Invoice.sequence).limit(MAX_INVOICES + 1)
    if invoice_ids is not None:
        query = query.where(Invoice.id.in_(list(invoice_ids)))
    if month is not None:
        start, end = month_bounds(month)
        query = query.where(Invoice.issue_date >= start, Invoice.issue_date < end)
    return list(session.scalars(query))


def plan(
    session: Session,
    month: datetime.date | None = None,
    invoice_ids: Sequence[uuid.UUID] | None = None,
    *,
    lock: bool = False,
) -> Plan:
    """What an export of ``month`` (issue dates) or of ``invoice_ids`` holds and leaves out; with
    ``lock``, each invoice's Chorus lock is held until the transaction ends (the export itself)."""
    invoices = _candidates(session, month, invoice_ids)
    found = Plan(more=len(invoices) > MAX_INVOICES)
    invoices = invoices[:MAX_INVOICES]
    for invoice in sorted(invoices, key=lambda item: item.id) if lock else ():
        submissions.lock(session, invoice.id, wait=True)
    for invoice in invoices:
        latest = submissions.latest(session, invoice.id)
        if latest is not None and latest.status != submissions.FAILED:
            if latest.channel == EXPORT and latest.status == PENDING:
                found.again.add(invoice.id)
            else:
                found.excluded.append((invoice, submissions.ALREADY_SUBMITTED))
                continue
        if submissions.engagement_missing(session, invoice):
            found.excluded.append((invoice, submissions.ENGAGEMENT_MISSING))
            continue
        if submissions.held(session, invoice):
            found.excluded.append((invoice, submissions.HELD))
            continue
        found.included.append(invoice)
        if invoice.credits_invoice_id is not None:
            credited = session.get(Invoice, invoice.credits_invoice_id)
            if credited is not None:
                found.credited[invoice.id] = credited
    return found


def _row(invoice: Invoice) -> list[str]:
    buyer = invoice.buyer
    return [
        invoice.number,
        "avoir" if invoice.kind == "credit_note" else "facture",
        invoice.issue_date.isoformat(),
        invoice.due_date.isoformat(),
        safe_cell(str(buyer.get("name") or "")),
        safe_cell(str(buyer.get("siret") or "")),
        safe_cell(str(buyer.get("service_code") or "")),
        safe_cell(str(buyer.get("engagement_number") or "")),
        f"{invoice.total_excl_vat:.2f}",
        f"{invoice.vat_total:.2f}",
        f"{invoice.total_incl_vat:.2f}",
        submissions.filename(invoice),
    ]


EXCLUSION_WORDS = {
    submissions.ENGAGEMENT_MISSING: "numéro d'engagement requis et absent",
    submissions.ALREADY_SUBMITTED: "déjà transmise à Chorus Pro",
    submissions.HELD: "facturation suspendue (blocage en cours)",
}


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # spreadsheets read the accents right


def build_zip(storage: Storage, found: Plan) -> bytes:
    """The ZIP (slow: reads or renders each PDF)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for invoice in found.included:
            pdf = submissions.pdf_of(storage, invoice, found.credited.get(invoice.id))
            archive.writestr(submissions.filename(invoice), pdf)
        archive.writestr(MANIFEST, _csv([list(COLUMNS), *(_row(invoice) for invoice in found.included)]))
        if found.excluded:
            rows = [[invoice.number, EXCLUSION_WORDS.get(code, code)] for invoice, code in found.excluded]
            archive.writestr(EXCLUDED, _csv([["numero", "motif"], *rows]))
    return buffer.getvalue()


def record(session: Session, found: Plan) -> list[InvoiceSubmission]:
    """An ``export`` submission, pending, for each invoice exported for the first time."""
    rows = [
        InvoiceSubmission(id=uuid.uuid4(), invoice_id=invoice.id, channel=EXPORT, status=PENDING)
        for invoice in found.included
        if invoice.id not in found.again
    ]
    session.add_all(rows)
    session.flush()
    return rows
