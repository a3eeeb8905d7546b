"""What is owed on issued invoices: paid so far, credited, still due, overdue (read-only SQL).

An invoice's **balance** is its total including VAT, minus its payments, minus the credit notes that
correct it (their totals are positive amounts that cancel the invoice's). It is **overdue** when its
balance is above zero and its due date has passed. Credit notes themselves are never due.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import aliased

from bippop.billing.models import INVOICE, Invoice, Payment

_credit = aliased(Invoice)


def paid_column() -> ColumnElement[Decimal]:
    """The payments received against ``Invoice`` (a correlated sum)."""
    return (
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )


def credited_column() -> ColumnElement[Decimal]:
    """The credit notes issued against ``Invoice`` (a correlated sum of their totals)."""
    return (
        select(func.coalesce(func.sum(_credit.total_incl_vat), 0))
        .where(_credit.credits_invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )


def balance_column() -> ColumnElement[Decimal]:
    return Invoice.total_incl_vat - paid_column() - credited_column()


def overdue_condition(today: datetime.date) -> ColumnElement[bool]:
    return and_(Invoice.kind == INVOICE, Invoice.due_date < today, balance_column() > 0)


def overdue_tenant_ids(today: datetime.date) -> Select[uuid.UUID]:
    """The tenants with at least one overdue invoice (for a ``Tenant.id.in_(...)`` filter)."""
    return select(Invoice.tenant_id).where(overdue_condition(today)).distinct()
