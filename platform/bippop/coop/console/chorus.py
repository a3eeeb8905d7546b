"""Console pages: Chorus Pro. ``/chorus`` lists each invoice's latest submission (status, Chorus Pro's
reason for a rejection), says whether the API is configured, and offers the monthly export for the
portal; ``/chorus/export`` previews then downloads it; ``/chorus/depots/{id}`` records what the portal
shows of an exported invoice; ``/factures/{id}/chorus`` deposits one invoice now through the API.

Each action is audited (``chorus.deposit``, ``chorus.export``, ``chorus.mark``) in its transaction.
The billing functions are sync: they run through ``AsyncSession.run_sync``, and the slow parts (PDFs,
Chorus Pro's API) in a worker thread while the transaction holds the invoices' locks.
"""

from __future__ import annotations

import datetime
import math
import re
import uuid
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.permissions import requires
from bippop.billing.chorus import export, overview, submissions
from bippop.billing.chorus.client import DEPOSITED, PAID, REJECTED, ChorusClient, ChorusConfig
from bippop.billing.models import Invoice
from bippop.coop import audit
from bippop.coop.console.common import COOP_ONLY, PAGE_SIZE, current_staff, page_number, signed_out
from bippop.web.forms import FormData, form_fields, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render

PATH = "/chorus"
MONTH = re.compile(r"(\d{4})-(\d{2})")
MAX_REASON = submissions.MAX_REASON
DONE = ("deposited", "pending", "failed", "exported", "marked")


def status_labels() -> dict[str, str]:
    return {
        "pending": _("Waiting"),
        "deposited": _("Deposited"),
        "rejected": _("Rejected"),
        "paid": _("Paid"),
        "failed": _("Failed"),
    }


def refusal_messages() -> dict[str, str]:
    return {
        submissions.BUSY: _("This invoice is being sent to Chorus Pro right now. Try again in a minute."),
        submissions.ENGAGEMENT_MISSING: _(
            "The buyer requires an engagement number and this invoice has none: correct it with a credit "
            "note and a new invoice."
        ),
        submissions.HELD: _("This tenant's billing is on hold: resolve the hold first."),
        submissions.ALREADY_SUBMITTED: _("This invoice has already been sent to Chorus Pro."),
    }


def _config(request: Request[Any, Any, Any]) -> ChorusConfig | None:
    return ChorusConfig.from_settings(request.app.state.settings)


def _month(value: str) -> datetime.date | None:
    match = MONTH.fullmatch(value.strip())
    if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
        return None
    return datetime.date(int(match[1]), int(match[2]), 1)


async def _index(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response[Any]:
    number = page_number(request)
    rows, total = await db_session.run_sync(lambda s: overview.page(s, number, PAGE_SIZE))
    done = request.query_params.get("fait", "")
    context = {
        "rows": rows,
        "total": total,
        "page": number,
        "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "api_on": _config(request) is not None,
        "labels": status_labels(),
        "done": done if done in DONE else "",
        "values": values or {},
        "errors": errors or {},
    }
    return render(request, "coop/chorus/index.html", context, status_code=status)


class ChorusController(Controller):
    path = PATH
    guards = [requires("coop.billing")]

    @get("/", opt=COOP_ONLY, name="coop-chorus")
    async def index(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return await _index(request, db_session)

    @get("/export", opt=COOP_ONLY)
    async def preview(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        raw = str(request.query_params.get("mois", ""))[:20]
        chosen = _invoice_ids(request.query_params.getall("facture", []))
        month = _month(raw)
        if chosen is None or (month is None and not chosen):
            return await _month_error(request, db_session, raw)
        found = await db_session.run_sync(lambda s: export.plan(s, month, chosen or None))
        context = {
            "mois": raw.strip() if month else "",
            "chosen": chosen,
            "plan": found,
            "reasons": refusal_messages(),
        }
        return render(request, "coop/chorus/export.html", context)

    @post("/export", opt=COOP_ONLY)
    async def download(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        raw = form_fields(data).get("mois", "")[:20]
        given = data.get("facture", [])
        chosen = _invoice_ids(given if isinstance(given, list) else [given])
        month = _month(raw)
        if chosen is None or (month is None and not chosen) or form_problems(data):
            return await _month_error(request, db_session, raw)
        found = await db_session.run_sync(lambda s: export.plan(s, month, chosen or None, lock=True))
        storage = request.app.state.storage
        archive = await anyio.to_thread.run_sync(lambda: export.build_zip(storage, found))
        created = await db_session.run_sync(lambda s: export.record(s, found))
        label = f"{month:%Y-%m}" if month else "selection"
        audit.record(
            db_session,
            "chorus.export",
            staff_id=staff.id,
            target=label,
            invoices=len(found.included),
            new=len(created),
            excluded=len(found.excluded),
        )
        await db_session.commit()
        headers = {"Content-Disposition": f'attachment; filename="chorus-{label}.zip"'}
        return Response(archive, media_type="application/zip", headers=headers, status_code=200)

    @get("/depots/{submission_id:uuid}", opt=COOP_ONLY)
    async def mark_form(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        submission_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return await _mark_page(request, db_session, submission_id, {}, {})

    @post("/depots/{submission_id:uuid}", opt=COOP_ONLY)
    async def mark(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        submission_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        form = form_fields(data)
        values = {"status": form.get("status", ""), "reason": form.get("reason", "")}
        errors = _mark_errors(values, form_problems(data, multiline=("reason",)))
        if errors:
            return await _mark_page(request, db_session, submission_id, values, errors, status=400)
        outcome = await db_session.run_sync(
            lambda s: submissions.mark(s, submission_id, values["status"], values["reason"])
        )
        if outcome == submissions.NOT_FOUND:
            raise NotFoundException()
        if isinstance(outcome, str):
            errors = {"status": _("This invoice's outcome on Chorus Pro is already recorded.")}
            return await _mark_page(request, db_session, submission_id, values, errors, status=400)
        invoice = await db_session.get(Invoice, outcome.invoice_id)
        audit.record(
            db_session,
            "chorus.mark",
            staff_id=staff.id,
            tenant_id=invoice.tenant_id if invoice else None,
            target=str(outcome.invoice_id),
            status=outcome.status,
        )
        await db_session.commit()
        return Redirect(f"{PATH}?fait=marked", status_code=303)


def _invoice_ids(values: list[Any]) -> list[uuid.UUID] | None:
    """The chosen invoices' ids (``facture`` sent once per invoice); None if one is not an id."""
    if len(values) > export.MAX_INVOICES:
        return None
    try:
        return [uuid.UUID(str(value)) for value in values]
    except ValueError:
        return None


async def _month_error(request: Request[Any, Any, Any], db_session: AsyncSession, raw: str) -> Response[Any]:
    error = {"mois": _("Enter a month as YYYY-MM, for example 2027-03.")}
    return await _index(request, db_session, values={"mois": raw}, errors=error, status=400)


def _mark_errors(values: dict[str, str], problems: dict[str, str]) -> dict[str, str]:
    errors = dict(problems)
    if values["status"] not in (DEPOSITED, REJECTED, PAID):
        errors["status"] = _("Choose what the Chorus Pro portal shows.")
    elif values["status"] == REJECTED and not values["reason"]:
        errors["reason"] = _("Copy the reason Chorus Pro gives for the rejection.")
    if len(values["reason"]) > MAX_REASON:
        errors["reason"] = _("Keep the reason under %(max)d characters.") % {"max": MAX_REASON}
    return errors


async def _mark_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    submission_id: uuid.UUID,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response[Any]:
    found = await db_session.run_sync(lambda s: overview.submission(s, submission_id))
    if found is None or found[0].channel != submissions.EXPORT:
        raise NotFoundException()
    context = {
        "submission": found[0],
        "invoice": found[1],
        "labels": status_labels(),
        "values": values,
        "errors": errors,
        "final": found[0].status in (REJECTED, PAID),
    }
    return render(request, "coop/chorus/mark.html", context, status_code=status)


class ChorusDepositController(Controller):
    path = "/factures/{invoice_id:uuid}/chorus"
    guards = [requires("coop.billing")]

    @get("/", opt=COOP_ONLY)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return await _deposit_page(request, db_session, invoice_id)

    @post("/", opt=COOP_ONLY)
    async def deposit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        config = _config(request)
        if config is None:
            return await _deposit_page(request, db_session, invoice_id, status=400)
        claimed = await db_session.run_sync(lambda s: submissions.claim(s, invoice_id, by_hand=True))
        if claimed == submissions.NOT_FOUND:
            raise NotFoundException()
        if isinstance(claimed, str):
            await db_session.rollback()
            return await _deposit_page(request, db_session, invoice_id, refused=claimed, status=409)
        storage = request.app.state.storage

        def send() -> submissions.Attempt:
            with ChorusClient(config) as client:
                return submissions.transmit(client, storage, claimed)

        attempt = await anyio.to_thread.run_sync(send)
        outcome = await db_session.run_sync(lambda s: submissions.record(s, claimed, attempt))
        audit.record(
            db_session,
            "chorus.deposit",
            staff_id=staff.id,
            tenant_id=claimed.invoice.tenant_id,
            target=str(invoice_id),
            status=outcome.status,
        )
        await db_session.commit()
        return Redirect(f"{PATH}?fait={outcome.status}", status_code=303)


async def _deposit_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    refused: str | None = None,
    status: int = 200,
) -> Response[Any]:
    invoice = await db_session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFoundException()
    if refused is None:
        refused = await db_session.run_sync(
            lambda s: submissions.refusal(s, invoice, submissions.latest(s, invoice_id), by_hand=True)
        )
    context = {
        "invoice": invoice,
        "api_on": _config(request) is not None,
        "refused": refusal_messages().get(refused, "") if refused else "",
    }
    return render(request, "coop/chorus/deposit.html", context, status_code=status)


CONTROLLERS: list[Any] = [ChorusController, ChorusDepositController]
