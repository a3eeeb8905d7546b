"""Recording money received against an invoice (several payments for a partial payment).

A payment is checked against the invoice as it is once locked: the invoice's row is read ``FOR UPDATE``
(the application's role may update some of its columns, which is what PostgreSQL asks for), so two
payments recorded at once are checked one after the other and never add up to more than the balance.
Payments are insert-only: a mistake is corrected by the bank, not by editing the row.

A payment carries its id from the confirmation page (``payment``, drawn when it is shown for a second
look): confirming twice — a double click, the browser's « resend », two tabs — finds that id already
recorded once the invoice is locked, and records nothing more (``repeated``).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.models import INVOICE, Invoice, Payment
from bippop.billing.services.ledger import balance_column
from bippop.web.formats import day, money
from bippop.web.i18n import _

MAX_REFERENCE = 100
MAX_AMOUNT = Decimal("9999999999.99")
FIELDS = ("paid_on", "amount", "reference")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_AMOUNT = re.compile(r"\d{1,10}(?:[.,]\d{1,2})?")


class Audit(Protocol):
    """The co-op's audit log (``bippop.coop.audit.record``, handed down: billing sits below coop)."""

    def __call__(
        self,
        session: Any,
        action: str,
        *,
        staff_id: uuid.UUID | None,
        tenant_id: uuid.UUID | None = None,
        target: str | None = None,
        **details: Any,
    ) -> object: ...


PAID = "paid"
PARTLY_PAID = "partly_paid"
UNPAID = "unpaid"


@dataclasses.dataclass
class PaymentOutcome:
    invoice: Invoice | None
    values: dict[str, str]
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    payment: Payment | None = None
    balance: Decimal = Decimal("0.00")
    repeated: bool = False

    @property
    def missing(self) -> bool:
        return self.invoice is None

    @property
    def done(self) -> bool:
        return self.payment is not None


def parse_amount(text: str) -> Decimal | None:
    """« 1 234,56 », « 1234.56 », « 12 » → a Decimal; anything else (two separators, three decimals,
    letters) → None."""
    compact = _SPACES.sub("", text)
    if not _AMOUNT.fullmatch(compact):
        return None
    try:
        return Decimal(compact.replace(",", ".")).quantize(Decimal("0.01"))
    except InvalidOperation:  # pragma: no cover - the pattern lets only numbers through
        return None


def payment_id_of(text: str) -> uuid.UUID | None:
    """The payment's id carried by the confirmation form (None: absent or not an id)."""
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def settlement(total: Decimal, balance: Decimal) -> str:
    """paid, partly_paid or unpaid, from an invoice's total and what is still due."""
    if balance <= 0:
        return PAID
    return PARTLY_PAID if balance < total else UNPAID


def _paid_on_problem(text: str, invoice: Invoice, today: datetime.date) -> tuple[datetime.date | None, str]:
    try:
        paid_on = datetime.date.fromisoformat(text)
    except ValueError:
        return None, _("Enter the day the payment was received, as YYYY-MM-DD (for example 2027-03-15).")
    if paid_on > today:
        return None, _("The day of the payment cannot be in the future.")
    if paid_on < invoice.issue_date:
        return None, _("The day of the payment cannot be before the invoice's date (%(day)s).") % {
            "day": day(invoice.issue_date)
        }
    return paid_on, ""


def _amount_problem(text: str, balance: Decimal) -> tuple[Decimal | None, str]:
    amount = parse_amount(text)
    if amount is None or amount > MAX_AMOUNT:
        return None, _("Enter the amount received in euros, for example 1 234,56.")
    if amount <= 0:
        return None, _("The amount must be more than zero.")
    if balance <= 0:
        return None, _("Nothing is due on this invoice any more.")
    if amount > balance:
        return None, _("The amount is more than what is still due (%(balance)s).") % {
            "balance": money(balance)
        }
    return amount, ""


def _check(
    values: dict[str, str], invoice: Invoice, balance: Decimal, today: datetime.date
) -> tuple[dict[str, str], datetime.date | None, Decimal | None]:
    errors: dict[str, str] = {}
    paid_on, problem = _paid_on_problem(values["paid_on"], invoice, today)
    if problem:
        errors["paid_on"] = problem
    amount, problem = _amount_problem(values["amount"], balance)
    if problem:
        errors["amount"] = problem
    reference = values["reference"]
    if not reference:
        errors["reference"] = _("Enter the payment's reference (the transfer's label, a cheque number…).")
    elif len(reference) > MAX_REFERENCE:
        errors["reference"] = _("The reference must be at most 100 characters.")
    return errors, paid_on, amount


async def record_payment(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    form: dict[str, str],
    *,
    staff_id: uuid.UUID,
    today: datetime.date,
    audit: Audit,
    problems: dict[str, str] | None = None,
) -> PaymentOutcome:
    """Record one payment of ``form`` (paid_on, amount, reference, and ``payment``: its id) against the
    invoice, in the caller's transaction (the invoice stays locked until it ends), audited through
    ``audit`` in it too; ``problems`` are the form's own (a refused character, a repeated field). A
    payment id already recorded on this invoice is the same confirmation sent again: nothing is added."""
    values = {name: " ".join(form.get(name, "").split())[:200] for name in FIELDS}
    invoice = await session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        return PaymentOutcome(None, values)
    balance = Decimal(await session.scalar(select(balance_column()).where(Invoice.id == invoice.id)) or 0)
    outcome = PaymentOutcome(invoice, values, balance=balance)
    payment_id = payment_id_of(str(form.get("payment", "")))
    if payment_id is not None:
        # Read after the invoice's lock: a confirmation sent twice at once sees the first one's row.
        earlier = await session.scalar(select(Payment).where(Payment.id == payment_id))
        if earlier is not None:
            if earlier.invoice_id != invoice.id:
                outcome.errors["form"] = _("This payment was recorded on another invoice.")
                return outcome
            outcome.payment, outcome.repeated = earlier, True
            return outcome
    if invoice.kind != INVOICE:
        outcome.errors["form"] = _(
            "A credit note is not paid: record the payment on the invoice it corrects."
        )
        return outcome
    errors, paid_on, amount = _check(values, invoice, balance, today)
    errors.update({name: message for name, message in (problems or {}).items() if name in FIELDS})
    if errors or paid_on is None or amount is None:
        outcome.errors = errors
        return outcome
    payment = Payment(
        id=payment_id or uuid.uuid4(),
        invoice_id=invoice.id,
        paid_on=paid_on,
        amount=amount,
        reference=values["reference"],
        recorded_by=staff_id,
    )
    session.add(payment)
    audit(
        session,
        "invoice.payment",
        staff_id=staff_id,
        tenant_id=invoice.tenant_id,
        target=invoice.number,
        invoice_id=str(invoice.id),
        payment_id=str(payment.id),
        amount=str(amount),
        paid_on=paid_on.isoformat(),
    )
    await session.flush()
    outcome.payment = payment
    outcome.balance = balance - amount
    return outcome


async def invoice_balance(session: AsyncSession, invoice_id: uuid.UUID) -> Decimal | None:
    """What is still due on an invoice (None: no such invoice)."""
    value = await session.scalar(select(balance_column()).where(Invoice.id == invoice_id))
    return None if value is None else Decimal(value)
