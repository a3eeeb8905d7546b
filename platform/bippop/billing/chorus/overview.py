"""What the console's Chorus Pro page lists: each invoice's latest submission, newest first."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bippop.billing.models import Invoice, InvoiceSubmission
from bippop.tenants.models import Tenant


@dataclasses.dataclass(frozen=True)
class Row:
    submission_id: uuid.UUID
    invoice_id: uuid.UUID
    number: str
    kind: str
    tenant_name: str
    channel: str
    status: str
    remote_id: str | None
    reason: str | None
    submitted_at: datetime.datetime
    checked_at: datetime.datetime | None


def _latest_ids() -> Select[tuple[uuid.UUID]]:
    ranked = select(
        InvoiceSubmission.id,
        func.row_number()
        .over(
            partition_by=InvoiceSubmission.invoice_id,
            order_by=(InvoiceSubmission.created_at.desc(), InvoiceSubmission.id.desc()),
        )
        .label("rank"),
    ).subquery()
    return select(ranked.c.id).where(ranked.c.rank == 1)


def page(session: Session, number: int, size: int) -> tuple[list[Row], int]:
    """The page ``number`` of latest submissions, and how many there are."""
    latest = _latest_ids().scalar_subquery()
    total = int(
        session.scalar(
            select(func.count()).select_from(InvoiceSubmission).where(InvoiceSubmission.id.in_(latest))
        )
        or 0
    )
    rows = session.execute(
        select(InvoiceSubmission, Invoice, Tenant.name)
        .join(Invoice, Invoice.id == InvoiceSubmission.invoice_id)
        .outerjoin(Tenant, Tenant.id == Invoice.tenant_id)
        .where(InvoiceSubmission.id.in_(latest))
        .order_by(InvoiceSubmission.created_at.desc(), InvoiceSubmission.id.desc())
        .offset((number - 1) * size)
        .limit(size)
    ).all()
    return [
        Row(
            submission_id=submission.id,
            invoice_id=invoice.id,
            number=invoice.number,
            kind=invoice.kind,
            tenant_name=name or "",
            channel=submission.channel,
            status=submission.status,
            remote_id=submission.remote_id,
            reason=submission.reason,
            submitted_at=submission.created_at,
            checked_at=submission.checked_at,
        )
        for submission, invoice, name in rows
    ], total


def submission(session: Session, submission_id: uuid.UUID) -> tuple[InvoiceSubmission, Invoice] | None:
    found = session.get(InvoiceSubmission, submission_id)
    if found is None:
        return None
    invoice = session.get(Invoice, found.invoice_id)
    return (found, invoice) if invoice is not None else None
