"""Console pages: invoices (``/factures``) — the list with filters and the periods held back, one
invoice (lines, parties, payments, Chorus Pro deposits), its PDF, a credit note, issuing a tenant's
due invoices on demand, and the corrected invoice of a period invoice credited in full (Chorus Pro
rejected it: the same lines, to the buyer as its billing details are now). The actions go through a
confirmation page; the PDF is made once the
issue is committed (a storage outage leaves the invoice, its number, and a « generate again »)."""

from __future__ import annotations

import functools
import uuid
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.permissions import requires
from bippop.billing.models import Invoice
from bippop.billing.services import documents, issuing, reissue
from bippop.billing.services.parties import ENGAGEMENT_MISSING, SELLER_INCOMPLETE, SIRET_INVALID
from bippop.coop.console.common import COOP_ONLY, current_staff, page_number, signed_out
from bippop.coop.services import invoices as service
from bippop.storage import Storage
from bippop.web.forms import FormData, form_fields, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render

PATH = "/factures"
DONE = ("issued", "nothing", "held", "credit_note", "payment", "pdf", "pdf_failed", "reissued")


def status_labels() -> dict[str, str]:
    return {
        "paid": _("Paid"),
        "partly_paid": _("Partly paid"),
        "due": _("Due"),
        "overdue": _("Overdue"),
        "credited": _("Credited"),
        "credit_note": _("Credit note"),
    }


def hold_words() -> dict[str, tuple[str, str]]:
    """A hold's reason code → (what is wrong, what to do)."""
    return {
        ENGAGEMENT_MISSING: (
            _("The buyer requires an engagement number and none is recorded."),
            _("Ask the council for its engagement number and add it to its billing details."),
        ),
        SIRET_INVALID: (
            _("The buyer's SIRET number is not valid."),
            _("Ask the council for the paying entity's SIRET (14 digits) and correct its billing details."),
        ),
        SELLER_INCOMPLETE: (
            _("The co-operative's SIREN, VAT number or IBAN is not configured."),
            _("Set BIPPOP_COOP_SIREN, BIPPOP_COOP_VAT_NUMBER and BIPPOP_COOP_IBAN, then issue again."),
        ),
    }


def reissue_refusals() -> dict[str, str]:
    """Why the corrected invoice may not be issued (a refusal code of ``billing.services.reissue`` or a
    hold's reason, the latter with what to do)."""
    words = {
        reissue.NOT_PERIOD: _("Only an invoice of a subscription period can be issued again this way."),
        reissue.NOT_CREDITED: _(
            "This invoice is not credited in full: issue a credit note for it first, then the corrected "
            "invoice."
        ),
        reissue.NO_PROFILE: _("This tenant has no billing details any more."),
        reissue.PLAN_CHANGED: _(
            "A change of plan already credited part of this invoice and invoiced the days after it on "
            "the new plan: issuing it again would bill those days twice. Correct the invoice of the "
            "change instead."
        ),
    }
    for code, (wrong, remedy) in hold_words().items():
        words[code] = f"{wrong} {remedy}"
    return words


def credit_refusals() -> dict[str, str]:
    """Why an invoice may not be credited in full (a code of ``coop.services.invoices``)."""
    return {
        service.CREDITED: _("This document cannot be credited: it is a credit note or is credited already."),
        service.PART_CREDITED: _(
            "Part of this invoice is already credited (change of plan): a credit note of all its lines "
            "would credit more than it is still worth, so it cannot be issued here."
        ),
        service.HAS_PAYMENTS: _(
            "This invoice has payments recorded: a refund is arranged with the council outside the "
            "platform; its credit note cannot be issued here."
        ),
    }


async def store_documents(
    request: Request[Any, Any, Any], db_session: AsyncSession, ids: list[uuid.UUID]
) -> bool:
    """Make and store the PDFs of committed documents; False if one could not be stored."""
    storage: Storage = request.app.state.storage
    stored = True
    for invoice_id in ids:
        invoice = await db_session.get_one(Invoice, invoice_id)
        credited = (
            await db_session.get(Invoice, invoice.credits_invoice_id) if invoice.credits_invoice_id else None
        )
        outcome = await anyio.to_thread.run_sync(
            functools.partial(documents.store, storage, invoice, credited)
        )
        await db_session.execute(documents.outcome_update(invoice_id, outcome))
        await db_session.commit()
        stored = stored and outcome.key is not None
    return stored


def _pdf_response(invoice: Invoice, pdf: bytes) -> Response[bytes]:
    headers = {"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'}
    return Response(pdf, media_type=documents.PDF_TYPE, headers=headers)


class InvoicesController(Controller):
    path = PATH
    guards = [requires("coop.billing")]

    @get("/", opt=COOP_ONLY, name="coop-invoices")
    async def index(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        params = request.query_params
        filters = service.Filters(
            tenant=str(params.get("collectivite", ""))[:40],
            status=str(params.get("statut", ""))[:20],
            month=str(params.get("mois", ""))[:7],
        )
        found = await service.list_invoices(db_session, filters, clock.today(), page_number(request))

        def page_url(number: int) -> str:
            query = {"collectivite": filters.tenant, "statut": filters.status, "mois": filters.month}
            return f"{PATH}?" + urlencode({**{k: v for k, v in query.items() if v}, "page": number})

        context = {
            "found": found,
            "filters": filters,
            "statuses": [(code, status_labels()[code]) for code in service.STATUSES],
            "status_labels": status_labels(),
            "holds": await service.open_holds(db_session, filters.tenant),
            "hold_words": hold_words(),
            "previous_url": page_url(found.page - 1) if found.page > 1 else None,
            "next_url": page_url(found.page + 1) if found.page < found.pages else None,
            "done": params.get("fait", "") if params.get("fait", "") in DONE else "",
            "count": params.get("nombre", ""),
        }
        return render(request, "coop/invoices/list.html", context)

    @get("/emettre", opt=COOP_ONLY)
    async def issue_form(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        tenant = await service.tenant_by_slug(db_session, str(request.query_params.get("collectivite", "")))
        if tenant is None:
            raise NotFoundException()
        return render(request, "coop/invoices/confirm_issue.html", {"tenant": tenant})

    @post("/emettre", opt=COOP_ONLY)
    async def issue(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        form = form_fields(data)
        tenant = (
            None
            if form_problems(data)
            else await service.tenant_by_slug(db_session, form.get("collectivite", ""))
        )
        if tenant is None:
            raise NotFoundException()
        settings = request.app.state.settings
        outcome = await service.issue_for_tenant(db_session, settings, staff.id, tenant.id, clock.today())
        await db_session.commit()
        stored = await store_documents(request, db_session, outcome.issued)
        done = "issued" if outcome.issued else ("held" if outcome.held else "nothing")
        if outcome.issued and not stored:
            done = "pdf_failed"
        query = urlencode({"collectivite": tenant.slug, "fait": done, "nombre": len(outcome.issued)})
        return Redirect(f"{PATH}?{query}", status_code=303)

    @get("/{invoice_id:uuid}", opt=COOP_ONLY, name="coop-invoice")
    async def detail(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return await invoice_page(request, db_session, invoice_id)

    @get("/{invoice_id:uuid}/pdf", opt=COOP_ONLY)
    async def pdf(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        invoice = await db_session.get(Invoice, invoice_id)
        if invoice is None:
            raise NotFoundException()
        storage: Storage = request.app.state.storage
        pdf = await anyio.to_thread.run_sync(lambda: documents.read_pdf(storage, invoice))
        if pdf is None:
            return render(request, "coop/invoices/pdf_missing.html", {"invoice": invoice}, status_code=404)
        return _pdf_response(invoice, pdf)

    @post("/{invoice_id:uuid}/pdf", opt=COOP_ONLY)
    async def regenerate(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        if await db_session.get(Invoice, invoice_id) is None:
            raise NotFoundException()
        stored = await store_documents(request, db_session, [invoice_id])
        return Redirect(f"{PATH}/{invoice_id}?fait={'pdf' if stored else 'pdf_failed'}", status_code=303)

    @get("/{invoice_id:uuid}/avoir", opt=COOP_ONLY)
    async def credit_form(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        detail = await service.invoice_detail(db_session, invoice_id, clock.today())
        if detail is None:
            raise NotFoundException()
        return render(request, "coop/invoices/confirm_credit.html", detail)

    @post("/{invoice_id:uuid}/avoir", opt=COOP_ONLY)
    async def credit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        if await db_session.get(Invoice, invoice_id) is None:
            raise NotFoundException()
        credit = await service.credit_in_full(db_session, staff.id, invoice_id)
        if credit is None:
            raise NotFoundException()
        note = credit.note
        if note is None:
            await db_session.rollback()
            error = credit_refusals().get(credit.refusal or "", credit_refusals()[service.CREDITED])
            return await invoice_page(request, db_session, invoice_id, error=error, status=400)
        await db_session.commit()
        if note.pdf_key is None:
            await store_documents(request, db_session, [note.id])
        return Redirect(f"{PATH}/{note.id}?fait=credit_note", status_code=303)


class ReissueController(Controller):
    """« Issue the corrected invoice » of a period invoice credited in full."""

    path = PATH
    guards = [requires("coop.billing")]

    @get("/{invoice_id:uuid}/reemettre", opt=COOP_ONLY)
    async def reissue_form(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        planned = await service.reissue_plan(db_session, request.app.state.settings, invoice_id)
        if planned is None:
            raise NotFoundException()
        return _reissue_page(request, planned)

    @post("/{invoice_id:uuid}/reemettre", opt=COOP_ONLY)
    async def reissue(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        settings = request.app.state.settings
        done = await service.reissue_invoice(db_session, settings, staff.id, invoice_id)
        if done is None:
            raise NotFoundException()
        if done.issued is None:
            refused = _reissue_page(request, done, status=400)
            await db_session.rollback()  # nothing issued: the profile's lock goes
            return refused
        new_id = done.issued.id
        await db_session.commit()
        if (await db_session.get_one(Invoice, new_id)).pdf_key is None:
            await store_documents(request, db_session, [new_id])
        return Redirect(f"{PATH}/{new_id}?fait=reissued", status_code=303)


def _reissue_page(
    request: Request[Any, Any, Any], planned: reissue.Reissue, status: int = 200
) -> Response[Any]:
    draft = planned.draft
    context = {
        "original": planned.original,
        "draft": draft,
        "issued": planned.issued,
        "refusal": reissue_refusals().get(planned.refusal or "", planned.refusal),
        "lines": [line.as_json() for line in draft.lines] if draft else [],
        "totals": issuing.totals(draft.lines) if draft else None,
    }
    return render(request, "coop/invoices/confirm_reissue.html", context, status_code=status)


async def invoice_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    error: str | None = None,
    payment_values: dict[str, str] | None = None,
    payment_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response[Any]:
    """The invoice's page (the payments' form re-rendered with its values and errors on a refusal)."""
    detail = await service.invoice_detail(db_session, invoice_id, clock.today())
    if detail is None:
        raise NotFoundException()
    done = request.query_params.get("fait", "") or request.query_params.get("done", "")
    context = {
        **detail,
        "status_labels": status_labels(),
        "error": error,
        "values": payment_values or {},
        "errors": payment_errors or {},
        "done": done if done in DONE else "",
    }
    return render(request, "coop/invoices/detail.html", context, status_code=status)


CONTROLLERS: list[Any] = [InvoicesController, ReissueController]
