"""Console pages: the platform audit log (``/journal``), newest first, 50 a page, filtered by action and
by tenant (its identifier, the slug). It shows who did what, to which tenant and target, with the
entry's codes; the log itself holds ids and codes only."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.permissions import requires
from bippop.accounts.staff_models import Staff
from bippop.coop.console.common import COOP_ONLY, PAGE_SIZE, current_staff, page_number, signed_out
from bippop.coop.models import AuditEntry
from bippop.tenants.models import Tenant
from bippop.web.forms import search_text
from bippop.web.i18n import _
from bippop.web.pages import render

MAX_ACTION = 60
MAX_SLUG = 63
MAX_ACTIONS_LISTED = 200


def action_labels() -> dict[str, str]:
    """Readable names of the actions known here; any other shows its code."""
    return {
        "staff.invite": _("Team member invited"),
        "staff.roles": _("Team member's role changed"),
        "staff.disable": _("Team member disabled"),
        "staff.enrolment_resent": _("Enrolment link sent again"),
        "staff.enrolled": _("Team member enrolled"),
        "staff.sign_in": _("Signed in"),
        "staff.sign_out": _("Signed out"),
        "tenant.suspend": _("Tenant suspended"),
        "tenant.billing_details": _("Billing details corrected"),
        "tenant.reactivate": _("Tenant reactivated"),
        "tenant.export": _("Tenant data exported"),
        "tenant.delete": _("Tenant closed for deletion"),
        "tenant.move": _("Tenant moved to another cluster"),
        "tenant.invite_admin": _("Tenant administrator invited"),
        "tenant.domain_add": _("Custom domain added"),
        "tenant.domain_remove": _("Custom domain removed"),
        "tenant.note_add": _("Support note added"),
        "plan.create": _("Plan created"),
        "plan.reprice": _("Plan prices changed"),
        "plan.archive": _("Plan archived"),
        "plan.default": _("Default plan chosen"),
        "invoice.issue": _("Invoice issued"),
        "invoice.credit_note": _("Credit note issued"),
        "invoice.payment": _("Payment recorded"),
        "chorus.deposit": _("Invoice deposited on Chorus Pro"),
        "chorus.export": _("Chorus Pro export made"),
        "chorus.mark": _("Chorus Pro status recorded"),
    }


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    def shown(value: Any) -> str:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return str(value)

    return [(str(key), shown(value)) for key, value in sorted(details.items())]


async def _entries(db_session: AsyncSession, conditions: list[Any], page: int) -> list[dict[str, Any]]:
    """One page of entries, newest first, with the staff member's and the tenant's names."""
    rows = await db_session.execute(
        select(AuditEntry, Staff.display_name, Tenant.name, Tenant.slug)
        .outerjoin(Staff, Staff.id == AuditEntry.staff_id)
        .outerjoin(Tenant, Tenant.id == AuditEntry.tenant_id)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    labels = action_labels()
    return [
        {
            "at": entry.at,
            "staff": staff_name,
            "action": labels.get(entry.action, entry.action),
            "code": entry.action,
            "tenant": tenant_name,
            "tenant_slug": tenant_slug,
            "target": entry.target,
            "details": _details(entry.details or {}),
        }
        for entry, staff_name, tenant_name, tenant_slug in rows
    ]


async def _action_options(db_session: AsyncSession) -> list[tuple[str, str]]:
    """The actions the log holds, for the filter (their readable names where known)."""
    labels = action_labels()
    known = await db_session.scalars(
        select(AuditEntry.action).distinct().order_by(AuditEntry.action).limit(MAX_ACTIONS_LISTED)
    )
    return [(code, labels.get(code, code)) for code in known]


class JournalController(Controller):
    path = "/journal"
    guards = [requires("coop.audit")]

    @get("/", opt=COOP_ONLY, name="coop-journal")
    async def journal(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        action = search_text(request.query_params.get("action", ""), MAX_ACTION)
        slug = search_text(request.query_params.get("tenant", ""), MAX_SLUG).lower()
        conditions: list[Any] = []
        if action:
            conditions.append(AuditEntry.action == action)
        if slug:
            conditions.append(AuditEntry.tenant_id.in_(select(Tenant.id).where(Tenant.slug == slug)))
        total = await db_session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(page_number(request), pages)

        def page_url(number: int) -> str:
            query = {**({"action": action} if action else {}), **({"tenant": slug} if slug else {})}
            return "/journal?" + urlencode({**query, "page": number})

        context = {
            "entries": await _entries(db_session, conditions, page),
            "total": total,
            "page": page,
            "pages": pages,
            "action": action,
            "tenant": slug,
            "action_options": await _action_options(db_session),
            "previous_url": page_url(page - 1) if page > 1 else None,
            "next_url": page_url(page + 1) if page < pages else None,
        }
        return render(request, "coop/journal.html", context)


CONTROLLERS: list[Any] = [JournalController]
