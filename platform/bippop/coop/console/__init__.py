"""The co-op console's pages beyond the list of tenants, one module per sub-domain: ``tenants`` (a
tenant's page and lifecycle), ``staff``, ``plans``, ``invoices`` (billing, payments, Chorus Pro),
``revenue`` and ``journal`` (the platform audit log). Each gives ``CONTROLLERS``."""

from __future__ import annotations

from typing import Any

from bippop.coop.console import (
    billing_details,
    chorus,
    invoices,
    journal,
    payments,
    plans,
    revenue,
    staff,
    tenants,
)

CONSOLE_CONTROLLERS: list[Any] = [
    *tenants.CONTROLLERS,
    *billing_details.CONTROLLERS,
    *staff.CONTROLLERS,
    *plans.CONTROLLERS,
    *invoices.CONTROLLERS,
    *chorus.CONTROLLERS,
    *payments.CONTROLLERS,
    *revenue.CONTROLLERS,
    *journal.CONTROLLERS,
]
