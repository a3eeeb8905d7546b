"""The console's list of tenants: a search on the name and filters by status, kind, département, plan
and overdue invoices, 50 a page.

The département is not stored on a tenant: it follows from its official code through the official list
(a commune's own, an EPCI's where most of its inhabitants live, a département itself), so the filter is
the set of official codes of that département, computed once per process and département.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.models import BillingProfile, Plan
from bippop.billing.services.ledger import overdue_tenant_ids
from bippop.collectivities import catalogue
from bippop.coop.console.common import PAGE_SIZE
from bippop.tenants.models import KINDS, STATUSES, Tenant
from bippop.web.forms import search_text
from bippop.web.i18n import _

MAX_QUERY = 100


def status_label(status: str) -> str:
    labels = {
        "pending": _("Waiting to be prepared"),
        "provisioning": _("Being prepared"),
        "active": _("Active"),
        "failed": _("Preparation failed"),
        "suspended": _("Suspended"),
        "deleting": _("Closed, to be deleted"),
        "moving": _("Moving"),
    }
    return labels.get(status, status)


@dataclasses.dataclass(frozen=True)
class TenantFilters:
    """What the list's GET form asked; a value outside the choices is ignored (an old bookmark)."""

    query: str = ""
    status: str = ""
    kind: str = ""
    departement: str = ""
    plan: str = ""  # a plan's id, as text
    overdue: bool = False

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> TenantFilters:
        def one(name: str) -> str:
            return search_text(str(params.get(name) or ""), MAX_QUERY)

        plan = one("plan")
        try:
            plan = str(uuid.UUID(plan)) if plan else ""
        except ValueError:
            plan = ""
        departement = one("departement").upper()
        return cls(
            query=one("q"),
            status=one("status") if one("status") in STATUSES else "",
            kind=one("kind") if one("kind") in KINDS else "",
            departement=departement if departement in departement_names() else "",
            plan=plan,
            overdue=one("overdue") == "1",
        )

    def params(self) -> dict[str, str]:
        """The filters as query parameters (for the pages' links), the empty ones left out."""
        values = {
            "q": self.query,
            "status": self.status,
            "kind": self.kind,
            "departement": self.departement,
            "plan": self.plan,
            "overdue": "1" if self.overdue else "",
        }
        return {name: value for name, value in values.items() if value}


@dataclasses.dataclass(frozen=True)
class TenantRow:
    name: str
    kind: str
    status: str
    slug: str
    last_error: str | None
    plan_name: str | None
    overdue: bool


@dataclasses.dataclass(frozen=True)
class TenantList:
    rows: list[TenantRow]
    total: int
    page: int
    pages: int


@functools.cache
def departement_names() -> dict[str, str]:
    """Département code → name, in code order (the filter's choices)."""
    found = {e.code: e.name for e in catalogue().entries if e.kind == "departement"}
    return dict(sorted(found.items()))


@functools.lru_cache(maxsize=128)
def codes_in_departement(departement: str) -> dict[str, frozenset[str]]:
    """Kind → the official codes of the collectivities of that kind in ``departement``."""
    codes: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for entry in catalogue().entries:
        if entry.departement == departement:
            codes[entry.kind].add(entry.code)
    return {kind: frozenset(found) for kind, found in codes.items()}


def _in_departement(departement: str) -> ColumnElement[bool]:
    parts = [
        and_(Tenant.kind == kind, Tenant.official_code.in_(sorted(codes)))
        for kind, codes in codes_in_departement(departement).items()
        if codes
    ]
    return or_(*parts) if parts else false()


def _conditions(filters: TenantFilters, today: datetime.date) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.query:
        conditions.append(Tenant.name.icontains(filters.query, autoescape=True))
    if filters.status:
        conditions.append(Tenant.status == filters.status)
    if filters.kind:
        conditions.append(Tenant.kind == filters.kind)
    if filters.departement:
        conditions.append(_in_departement(filters.departement))
    if filters.plan:
        conditions.append(BillingProfile.plan_id == uuid.UUID(filters.plan))
    if filters.overdue:
        conditions.append(Tenant.id.in_(overdue_tenant_ids(today)))
    return conditions


async def list_tenants(
    session: AsyncSession, filters: TenantFilters, page: int, today: datetime.date
) -> TenantList:
    """One page of the tenants the filters keep, by name (the last page when ``page`` is beyond it)."""
    conditions = _conditions(filters, today)
    joined = select(Tenant.id).outerjoin(BillingProfile, BillingProfile.tenant_id == Tenant.id)
    total = await session.scalar(select(func.count()).select_from(joined.where(*conditions).subquery())) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    overdue = Tenant.id.in_(overdue_tenant_ids(today)).label("overdue")
    rows = await session.execute(
        select(Tenant.name, Tenant.kind, Tenant.status, Tenant.slug, Tenant.last_error, Plan.name, overdue)
        .outerjoin(BillingProfile, BillingProfile.tenant_id == Tenant.id)
        .outerjoin(Plan, Plan.id == BillingProfile.plan_id)
        .where(*conditions)
        .order_by(func.lower(Tenant.name), Tenant.slug)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    listed = [TenantRow(*row) for row in rows]
    return TenantList(rows=listed, total=total, page=page, pages=pages)


async def plan_choices(session: AsyncSession) -> list[tuple[str, str]]:
    """(id, name) of every plan, archived ones included (tenants may still be on them)."""
    rows = await session.execute(
        select(Plan.id, Plan.name).order_by(Plan.archived_at.is_not(None), Plan.name)
    )
    return [(str(plan_id), name) for plan_id, name in rows]
