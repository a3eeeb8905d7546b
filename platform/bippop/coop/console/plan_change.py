"""Console page: « Change plan » of a tenant (``/collectivites/{slug}/offre``), done by the co-op on the
council's request. GET shows the form and, once a plan and a day are chosen, a preview of the credit
note and the invoice the change will issue; POST does it (audited ``tenant.plan_change``), commits,
then stores the new documents' PDFs (a storage outage leaves them to the documents' retry job)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.permissions import requires
from bippop.coop.console.common import COOP_ONLY, current_staff, signed_out
from bippop.coop.console.invoices import store_documents
from bippop.coop.services import plan_change
from bippop.coop.services.tenant_page import find_tenant
from bippop.tenants.models import Tenant
from bippop.web.forms import FormData, form_fields, form_problems
from bippop.web.pages import render

FIELDS = ("plan", "day")


async def _tenant(db_session: AsyncSession, slug: str) -> Tenant:
    tenant = await find_tenant(db_session, slug) if len(slug) <= 40 else None
    if tenant is None:
        raise NotFoundException()
    return tenant


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    tenant: Tenant,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    """The form; with a plan and a day that hold, the preview and the confirmation button."""
    today = clock.today()

    def read(session: Any) -> tuple[Any, dict[str, str], Any]:
        form = plan_change.change_form(session, tenant, today)
        if form is None or errors is not None or not any(values.values()):
            return form, errors or {}, None
        problems, plan, day = plan_change.check(session, form, values["plan"], values["day"])
        if problems or plan is None or day is None:
            return form, problems, None
        return form, {}, plan_change.preview(session, form, plan, day)

    form, problems, shown = await db_session.run_sync(read)
    context = {
        "subject": tenant,
        "form": form,
        "errors": problems,
        "values": {"plan": values.get("plan", ""), "day": values.get("day") or today.isoformat()},
        "preview": shown,
    }
    code = 400 if problems and status == 200 else status
    return render(request, "coop/tenants/plan_change.html", context, status_code=code)


class PlanChangeController(Controller):
    path = "/collectivites"
    guards = [requires("coop.tenants")]

    @get("/{slug:str}/offre", opt=COOP_ONLY)
    async def show(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], slug: FromPath[str]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        tenant = await _tenant(db_session, slug)
        values = {name: str(request.query_params.get(name, ""))[:40] for name in FIELDS}
        return await _page(request, db_session, tenant, values)

    @post("/{slug:str}/offre", opt=COOP_ONLY)
    async def change(
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
        fields = form_fields(data)
        values = {name: fields.get(name, "")[:40] for name in FIELDS}
        if problems := form_problems(data):
            return await _page(request, db_session, tenant, values, errors=problems, status=400)
        settings, today, staff_id = request.app.state.settings, clock.today(), staff.id
        outcome = await db_session.run_sync(
            lambda s: plan_change.perform(s, settings, staff_id, tenant, values, today)
        )
        if outcome.errors:
            await db_session.rollback()
            tenant = await _tenant(db_session, slug)
            return await _page(request, db_session, tenant, values, errors=outcome.errors, status=400)
        await db_session.commit()
        await store_documents(request, db_session, outcome.issued)
        return Redirect(f"/collectivites/{tenant.slug}?fait=plan", status_code=303)


CONTROLLERS: list[Any] = [PlanChangeController]
