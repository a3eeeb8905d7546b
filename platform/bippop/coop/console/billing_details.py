"""Console page: « Billing details » of a tenant (``/collectivites/{slug}/facturation``). GET shows the
billing identity as it is, with the periods held because of it; POST checks every field as the
sign-up wizard does, saves (audited ``tenant.billing_details``: the fields' names only) and goes back
to the tenant page, which says when held periods can now be invoiced."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.permissions import requires
from bippop.billing.models import BillingProfile
from bippop.billing.services import identity
from bippop.billing.services.council_details import open_holds
from bippop.coop.console.common import COOP_ONLY, current_staff, signed_out
from bippop.coop.console.invoices import hold_words
from bippop.coop.services.billing_details import save_billing_details
from bippop.coop.services.tenant_page import find_tenant
from bippop.tenants.models import Tenant
from bippop.web.forms import FormData
from bippop.web.pages import render

SLUG_LIMIT = 40


async def _tenant(db_session: AsyncSession, slug: str) -> Tenant:
    tenant = await find_tenant(db_session, slug) if len(slug) <= SLUG_LIMIT else None
    if tenant is None:
        raise NotFoundException()
    return tenant


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    tenant: Tenant,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    profile = await db_session.get(BillingProfile, tenant.id)
    if values is None and profile is not None:
        values = identity.profile_values(profile)
    context = {
        "subject": tenant,  # ``tenant`` is the layout's: the site's own tenant (none here)
        "profile": profile,
        "values": values or {},
        "errors": errors or {},
        "holds": await open_holds(db_session, tenant.id),
        "hold_words": hold_words(),
        "limits": identity.LIMITS,
    }
    return render(request, "coop/tenants/billing_details.html", context, status_code=status)


class BillingDetailsController(Controller):
    path = "/collectivites"
    guards = [requires("coop.tenants")]

    @get("/{slug:str}/facturation", opt=COOP_ONLY)
    async def show(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], slug: FromPath[str]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return await _page(request, db_session, await _tenant(db_session, slug))

    @post("/{slug:str}/facturation", opt=COOP_ONLY)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        tenant = await _tenant(db_session, slug)
        settings = request.app.state.settings
        outcome = await save_billing_details(db_session, settings, staff.id, tenant.id, data)
        if outcome.missing:
            raise NotFoundException()
        if outcome.errors:
            await db_session.rollback()
            tenant = await _tenant(db_session, slug)
            return await _page(request, db_session, tenant, outcome.values, outcome.errors, 400)
        await db_session.commit()
        done = "billing_released" if outcome.released else "billing_details"
        return Redirect(f"/collectivites/{tenant.slug}?fait={done}", status_code=303)


CONTROLLERS: list[Any] = [BillingDetailsController]
