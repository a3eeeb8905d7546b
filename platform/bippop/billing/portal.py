"""``/gestion/factures``: a tenant administrator's invoices and credit notes, and their PDFs; and
``/gestion/factures/coordonnees``, the council's own billing details (service code, engagement number,
billing contact; who pays is changed by the co-op on request), always the current tenant's profile.

``platform.invoices`` has no row security: every read here names the current tenant's id, and an
invoice of another tenant is « not found » (404), never shown.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.permissions import requires
from bippop.billing.models import BillingProfile, Invoice
from bippop.billing.services import documents
from bippop.billing.services import identity as identity_rules
from bippop.billing.services.council_details import DetailsOutcome, save_council_details
from bippop.billing.services.ledger import balance_column
from bippop.storage import Storage
from bippop.web.deps import tenant_of
from bippop.web.forms import FormData
from bippop.web.pages import render_page

PATH = "/gestion/factures"
INVOICES_ACTION = "billing.invoices"  # tenant_admin (accounts/permissions.py)
SHOWN = 200
DETAILS_PATH = f"{PATH}/coordonnees"
DONE = ("details", "released")


async def _own_invoice(request: Request[Any, Any, Any], invoice_id: uuid.UUID) -> Invoice:
    """The current tenant's invoice ``invoice_id``; 404 for any other (another tenant's included)."""
    tenant_id = tenant_of(request).id
    async with request.app.state.session_factory() as session:
        invoice = await session.scalar(
            select(Invoice).where(Invoice.id == invoice_id, Invoice.tenant_id == tenant_id)
        )
    if invoice is None:
        raise NotFoundException()
    return invoice


async def _details_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    person: Identity,
    refused: DetailsOutcome | None = None,
    status: int = 200,
) -> Response[str]:
    async with request.app.state.session_factory() as session:
        profile = await session.get(BillingProfile, tenant_of(request).id)
    context: dict[str, Any] = {
        "profile": profile,
        "values": refused.values if refused else (identity_rules.profile_values(profile) if profile else {}),
        "errors": refused.errors if refused else {},
        "limits": identity_rules.LIMITS,
    }
    return await render_page(
        request, db_session, "billing/details.html", staff_context(person, context), status=status
    )


class BillingPortalController(Controller):
    path = PATH
    dependencies = SIGNED_IN_DEPENDENCIES
    guards = [requires(INVOICES_ACTION)]

    @get("/", name="tenant-invoices")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
    ) -> Response[str]:
        tenant_id = tenant_of(request).id
        # Platform tables live on the main cluster, whichever cluster holds the tenant.
        async with request.app.state.session_factory() as session:
            rows = (
                await session.execute(
                    select(Invoice, balance_column())
                    .where(Invoice.tenant_id == tenant_id)
                    .order_by(Invoice.issued_at.desc(), Invoice.sequence.desc())
                    .limit(SHOWN)
                )
            ).all()
        invoices = [{"invoice": invoice, "balance": balance} for invoice, balance in rows]
        done = request.query_params.get("fait", "")
        context = {"invoices": invoices, "done": done if done in DONE else ""}
        return await render_page(
            request, db_session, "billing/invoices.html", staff_context(identity, context)
        )

    @get("/coordonnees", name="tenant-billing-details")
    async def details(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
    ) -> Response[str]:
        return await _details_page(request, db_session, identity)

    @post("/coordonnees")
    async def save_details(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        data: FormData,
    ) -> Response[Any]:
        tenant_id = tenant_of(request).id  # the request's tenant: the only profile written here
        settings = request.app.state.settings
        async with request.app.state.session_factory() as session:
            outcome = await save_council_details(
                session, db_session, settings, tenant_id, identity.person_id, data
            )
            if outcome.missing:
                raise NotFoundException()
            if outcome.errors:
                return await _details_page(request, db_session, identity, outcome, status=400)
            await session.commit()
        await db_session.commit()
        done = "released" if outcome.released else "details"
        return Redirect(f"{PATH}?fait={done}", status_code=303)

    @get("/{invoice_id:uuid}/pdf", name="tenant-invoice-pdf")
    async def pdf(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        invoice = await _own_invoice(request, invoice_id)
        storage: Storage = request.app.state.storage
        pdf = await anyio.to_thread.run_sync(lambda: documents.read_pdf(storage, invoice))
        if pdf is None:
            context = staff_context(identity, {"invoice": invoice})
            return await render_page(request, db_session, "billing/pdf_missing.html", context, status=404)
        headers = {"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'}
        return Response(pdf, media_type=documents.PDF_TYPE, headers=headers)


BILLING_PORTAL_CONTROLLERS: list[type[Controller]] = [BillingPortalController]
