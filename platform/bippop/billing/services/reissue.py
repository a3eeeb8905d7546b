"""« Corrected by a credit note and a new invoice »: a period invoice that was wrong (Chorus Pro
rejected it: the engagement number, the service code, the SIRET) is credited in full, then issued
again — the same lines and period, to the buyer as the billing profile says *now*.

- **Why it is needed.** The monthly run invoices a period once: its run key ``<tenant>:<period start>``
  is taken by the credited invoice, so the run never invoices that period again.
- **Its run key** is the original's followed by ``:r<n>`` (``<tenant>:<start>:r1``; the correction of
  ``…:r1`` is ``…:r2``): derived from the original only, so a second submit (a double click, two
  operators at once) returns the invoice already issued (``issuing.issue`` dedupes on the key).
- **Refused** (a code of ``REFUSALS`` or of ``parties.HOLD_REASONS``) for a credit note, an invoice of
  no period, one not credited in full, one a change of plan credited in part (the new plan's invoice
  bills the days after the change already: issuing the old lines again would bill them twice), a tenant without a billing profile, or a profile the run
  would hold (engagement number missing, SIRET invalid, the co-op's identity incomplete).
- The caller holds nothing; ``reissue`` locks the tenant's billing profile (as the run and a change of
  plan do) and issues in the caller's transaction, which commits.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bippop.billing.models import INVOICE, BillingProfile, Invoice
from bippop.billing.services.issuing import Draft, Line, issue
from bippop.billing.services.ledger import credited_column
from bippop.billing.services.parties import PeriodLine, buyer_of, hold_reason, seller_of
from bippop.billing.services.subscriptions import lock_profile
from bippop.config import Settings

NOT_PERIOD = "not_period"  # a credit note, or an invoice of no subscription period
NOT_CREDITED = "not_credited"  # not credited in full: it still stands
NO_PROFILE = "no_profile"  # the tenant has no billing profile any more
PLAN_CHANGED = "plan_changed"  # a change of plan credited part of it: its days are billed twice again
REFUSALS = (NOT_PERIOD, NOT_CREDITED, NO_PROFILE, PLAN_CHANGED)
_REISSUE = re.compile(r":r(\d+)$")


@dataclasses.dataclass(frozen=True)
class Reissue:
    """What issuing ``original`` again gives: ``draft`` (None when refused, then ``refusal`` says why),
    and ``issued``, the corrected invoice: with ``draft``, just issued; without, issued before."""

    original: Invoice
    refusal: str | None
    draft: Draft | None
    issued: Invoice | None = None


def period_key(invoice: Invoice) -> str | None:
    """``<tenant>:<period start>`` for an invoice of a period (the run's, a change of plan's, or a
    reissue of one), None otherwise."""
    if invoice.kind != INVOICE or invoice.period_start is None or invoice.run_key is None:
        return None
    base = f"{invoice.tenant_id}:{invoice.period_start}"
    if invoice.run_key == base or _REISSUE.sub("", invoice.run_key) == base:
        return base
    return None


def reissue_key(invoice: Invoice) -> str | None:
    """The run key of ``invoice``'s reissue (None for an invoice that is not of a period)."""
    base = period_key(invoice)
    if base is None or invoice.run_key is None:
        return None
    found = _REISSUE.search(invoice.run_key)
    return f"{base}:r{int(found.group(1)) + 1 if found else 1}"


def fully_credited(session: Session, invoice: Invoice) -> bool:
    credited = session.scalar(select(credited_column()).where(Invoice.id == invoice.id)) or Decimal(0)
    return credited >= invoice.total_incl_vat


def plan_changed(session: Session, invoice: Invoice) -> bool:
    """Whether a change of plan credited part of ``invoice`` (its credit note's run key is
    ``<tenant>:<day>:credit``, see ``subscriptions.change_plan``)."""
    found = session.scalar(
        select(Invoice.id)
        .where(Invoice.credits_invoice_id == invoice.id, Invoice.run_key.like("%:credit"))
        .limit(1)
    )
    return found is not None


def _line(line: dict[str, Any]) -> Line:
    """A line of the original as it was priced (the plan and population kept when it had them)."""
    base = Line(
        str(line["label"]), Decimal(line["quantity"]), Decimal(line["unit_price"]), Decimal(line["vat_rate"])
    )
    if "plan_code" not in line:
        return base
    population = int(line.get("population") or 0)
    return PeriodLine(
        base.label,
        base.quantity,
        base.unit_price,
        base.vat_rate,
        plan_code=str(line["plan_code"]),
        population=population,
    )


def plan(session: Session, settings: Settings, original: Invoice, *, lock: bool = False) -> Reissue:
    """What issuing ``original`` again would do (nothing written; ``lock`` holds the billing profile
    first, so that a second submit waits for the first and then finds its invoice)."""
    key = reissue_key(original)
    if key is None:
        return Reissue(original, NOT_PERIOD, None)
    if lock:
        profile = lock_profile(session, original.tenant_id)
    else:
        profile = session.get(BillingProfile, original.tenant_id)
    issued = session.scalar(select(Invoice).where(Invoice.run_key == key))
    if issued is not None:
        return Reissue(original, None, None, issued)
    if plan_changed(session, original):
        return Reissue(original, PLAN_CHANGED, None)
    if not fully_credited(session, original):
        return Reissue(original, NOT_CREDITED, None)
    if profile is None:
        return Reissue(original, NO_PROFILE, None)
    if (reason := hold_reason(profile, settings)) is not None:
        return Reissue(original, reason, None)
    draft = Draft(
        tenant_id=original.tenant_id,
        buyer=buyer_of(profile),
        seller=seller_of(settings),
        lines=[_line(line) for line in original.lines],
        period_start=original.period_start,
        period_end=original.period_end,
        run_key=key,
        payment_days=settings.invoice_payment_days,
    )
    return Reissue(original, None, draft)


def reissue(session: Session, settings: Settings, original_id: uuid.UUID) -> Reissue:
    """Issue the corrected invoice of ``original_id`` in the caller's transaction; ``issued`` is the
    new invoice (or the one a first submit issued), None with a ``refusal``. Raises ``LookupError``
    when there is no such document."""
    original = session.get(Invoice, original_id)
    if original is None:
        raise LookupError(f"no invoice {original_id}")
    planned = plan(session, settings, original, lock=True)
    if planned.draft is None:
        return planned
    return dataclasses.replace(planned, issued=issue(session, planned.draft))
