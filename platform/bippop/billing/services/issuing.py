"""Issuing an invoice or a credit note: its number, its totals, and the row the database then keeps
as it is.

- **Numbers.** One sequence per calendar year (Paris time) in ``platform.invoice_sequences``, shared by
  invoices and credit notes, allocated by an ``UPDATE … RETURNING`` in the issuing transaction: the
  row stays locked until that transaction ends, so a second issuer waits, a rolled-back issue gives
  its number back (no gap), and numbers follow the issue times (the time is read once the number is
  held). An issue that waited across midnight on 31 December gives its number back and takes one of
  the new year. Written ``<year>-<6 digits>`` (``2027-000042``).
- **Totals.** Each line's net amount is rounded to the cent; the VAT is computed per rate on the sum of
  the net amounts of that rate and rounded once (EN 16931, BR-CO-17), so totals always add up.
- **Runs.** A draft may carry a ``run_key`` (tenant and period): issuing it again — a resumed run, or
  two runs at once — returns the invoice already issued and allocates nothing.
- **Never edited.** A trigger refuses any change to what an issued document says and any delete;
  ``credit_note_for`` drafts the correction of an invoice.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bippop import clock
from bippop.billing.models import CREDIT_NOTE, INVOICE, Invoice, InvoiceSequence

CENT = Decimal("0.01")
PAYMENT_DAYS = 30  # the longest term a French public buyer may be given (Code de la commande publique)
YEAR_TURNS = 3  # attempts when an issue waited across the new year


@dataclasses.dataclass(frozen=True)
class Line:
    label: str
    quantity: Decimal
    unit_price: Decimal  # excluding VAT
    vat_rate: Decimal  # percent

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)

    def as_json(self) -> dict[str, str]:
        return {
            "label": self.label,
            "quantity": str(self.quantity),
            "unit_price": str(self.unit_price),
            "vat_rate": str(self.vat_rate),
            "amount": str(self.amount),
        }


@dataclasses.dataclass(frozen=True)
class Draft:
    tenant_id: uuid.UUID
    buyer: dict[str, Any]  # the billing identity as it was when issued (name, SIRET, service code, …)
    seller: dict[str, Any]  # the co-op's (SIREN, VAT number, IBAN, address)
    lines: Sequence[Line]
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    run_key: str | None = None
    kind: str = INVOICE
    credits_invoice_id: uuid.UUID | None = None
    payment_days: int = PAYMENT_DAYS


@dataclasses.dataclass(frozen=True)
class Totals:
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal
    vat_by_rate: dict[Decimal, tuple[Decimal, Decimal]]  # rate → (taxable base, VAT)


def totals(lines: Sequence[Line]) -> Totals:
    by_rate: dict[Decimal, Decimal] = {}
    for line in lines:
        by_rate[line.vat_rate] = by_rate.get(line.vat_rate, Decimal(0)) + line.amount
    vat_by_rate = {
        rate: (base, (base * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP))
        for rate, base in sorted(by_rate.items())
    }
    excl = sum((base for base, _vat in vat_by_rate.values()), Decimal("0.00"))
    vat = sum((tax for _base, tax in vat_by_rate.values()), Decimal("0.00"))
    return Totals(excl, vat, excl + vat, vat_by_rate)


def invoice_number(year: int, sequence: int) -> str:
    return f"{year}-{sequence:06d}"


def _next_sequence(session: Session, year: int) -> int:
    """The year's next number; its row stays locked until the transaction ends."""
    session.execute(
        insert(InvoiceSequence)
        .values(year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    return int(
        session.execute(
            update(InvoiceSequence)
            .where(InvoiceSequence.year == year)
            .values(last_number=InvoiceSequence.last_number + 1)
            .returning(InvoiceSequence.last_number)
        ).scalar_one()
    )


class _YearTurned(Exception):
    """The number was held after midnight on 31 December: take one of the new year instead."""


def _already_issued(session: Session, run_key: str | None) -> Invoice | None:
    if run_key is None:
        return None
    return session.scalar(select(Invoice).where(Invoice.run_key == run_key))


def issue(session: Session, draft: Draft) -> Invoice:
    """Issue ``draft`` in the caller's transaction (the caller commits: until then the year's number
    stays locked). Returns the invoice — the one already issued for the draft's ``run_key`` if any."""
    if (found := _already_issued(session, draft.run_key)) is not None:
        return found
    if not draft.lines:
        raise ValueError("an invoice has at least one line")
    if (draft.kind == CREDIT_NOTE) != (draft.credits_invoice_id is not None):
        raise ValueError("a credit note, and only it, names the invoice it corrects")
    for _attempt in range(YEAR_TURNS):
        year = clock.now().astimezone(clock.PARIS).year
        try:
            with session.begin_nested():
                return _write(session, draft, year)
        except _YearTurned:
            continue
        except IntegrityError:
            # Another run issued the same run key meanwhile (its commit came first): that one stands.
            if (found := _already_issued(session, draft.run_key)) is not None:
                return found
            raise
    raise RuntimeError("the year kept turning while issuing")  # pragma: no cover - three midnights


def _write(session: Session, draft: Draft, year: int) -> Invoice:
    sequence = _next_sequence(session, year)
    issued_at = clock.now()  # read once the number is held: numbers follow the issue times
    issue_date = issued_at.astimezone(clock.PARIS).date()
    if issue_date.year != year:
        raise _YearTurned()
    sums = totals(draft.lines)
    invoice = Invoice(
        id=uuid.uuid4(),
        tenant_id=draft.tenant_id,
        kind=draft.kind,
        number=invoice_number(year, sequence),
        year=year,
        sequence=sequence,
        issued_at=issued_at,
        issue_date=issue_date,
        due_date=issue_date + datetime.timedelta(days=draft.payment_days),
        period_start=draft.period_start,
        period_end=draft.period_end,
        credits_invoice_id=draft.credits_invoice_id,
        total_excl_vat=sums.excl_vat,
        vat_total=sums.vat,
        total_incl_vat=sums.incl_vat,
        lines=[line.as_json() for line in draft.lines],
        buyer=dict(draft.buyer),
        seller=dict(draft.seller),
        run_key=draft.run_key,
    )
    session.add(invoice)
    session.flush()
    return invoice


def lines_of(invoice: Invoice) -> list[Line]:
    return [
        Line(
            label=str(line["label"]),
            quantity=Decimal(line["quantity"]),
            unit_price=Decimal(line["unit_price"]),
            vat_rate=Decimal(line["vat_rate"]),
        )
        for line in invoice.lines
    ]


def credit_note_for(invoice: Invoice, *, run_key: str | None = None) -> Draft:
    """The credit note cancelling ``invoice`` in full: the same lines and parties (amounts are written
    positive; the document's kind says they are credited)."""
    if invoice.kind != INVOICE:
        raise ValueError("only an invoice is corrected by a credit note")
    return Draft(
        tenant_id=invoice.tenant_id,
        buyer=invoice.buyer,
        seller=invoice.seller,
        lines=lines_of(invoice),
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        run_key=run_key,
        kind=CREDIT_NOTE,
        credits_invoice_id=invoice.id,
    )
