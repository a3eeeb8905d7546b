"""``/gestion/factures``: a tenant administrator's invoices and credit notes, and their PDFs.

``platform.invoices`` has no row security: every read here names the current tenant's id, and an
invoice of another tenant is « not found » (404), never shown.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.permissions import requires
from bippop.billing.models import Invoice
from bippop.billing.services import documents
from bippop.billing.services.ledger import balance_column
from bippop.storage import Storage
from bippop.web.deps import tenant_of
from bippop.web.pages import render_page

PATH = "/gestion/factures"
INVOICES_ACTION = "billing.invoices"  # tenant_admin (accounts/permissions.py)
SHOWN = 200


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
        return await render_page(
            request, db_session, "billing/invoices.html", staff_context(identity, {"invoices": invoices})
        )

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
