"""Console pages: recording a payment against an invoice, and dunning (``/relances``: the suspension
proposals awaiting an operator, the reminders sent). Parse the form, call one service, redirect or
re-render with the messages next to the fields."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.permissions import requires
from bippop.billing.services import dunning, payments
from bippop.coop import audit
from bippop.coop.console.common import COOP_ONLY, current_staff, signed_out
from bippop.web.forms import FormData, form_fields, form_problems
from bippop.web.pages import render

DUNNING_PATH = "/relances"
DONE_MESSAGES = ("suspended", "dismissed")


class PaymentsController(Controller):
    guards = [requires("coop.billing")]

    @post("/factures/{invoice_id:uuid}/paiements", opt=COOP_ONLY)
    async def record(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        invoice_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        outcome = await payments.record_payment(
            db_session,
            invoice_id,
            form_fields(data),
            staff_id=staff.id,
            today=clock.today(),
            audit=audit.record,
            problems=form_problems(data),
        )
        if outcome.invoice is None:
            raise NotFoundException()
        confirmed = str(data.get("confirm", "")) == "1"
        status = payments.settlement(outcome.invoice.total_incl_vat, outcome.balance)
        if outcome.repeated:
            await db_session.rollback()  # the same confirmation again: already kept, nothing added
        elif not outcome.done or not confirmed:
            # A payment is never edited nor removed once recorded: what was typed is checked, then shown
            # for a second look before it is kept (the row just written is rolled back either way).
            invoice = outcome.invoice
            shown = {
                "id": invoice.id,
                "number": invoice.number,
                "kind": invoice.kind,
                "issue_date": invoice.issue_date,
                "total_incl_vat": invoice.total_incl_vat,
            }
            balance_after = outcome.balance
            balance_before = balance_after + (outcome.payment.amount if outcome.payment is not None else 0)
            payment_id = outcome.payment.id if outcome.payment is not None else None
            await db_session.rollback()  # nothing recorded; the invoice's lock goes
            context = {
                "invoice": shown,
                "balance": outcome.balance,
                "values": outcome.values,
                "errors": outcome.errors,
            }
            if payment_id is not None:
                context.update(balance=balance_before, balance_after=balance_after, payment_id=payment_id)
                return render(request, "coop/payments/payment_confirm.html", context)
            return render(request, "coop/payments/payment_form.html", context, status_code=400)
        else:
            await db_session.commit()
        query = urlencode({"done": "payment", "status": status})
        return Redirect(f"/factures/{invoice_id}?{query}", status_code=303)


class DunningController(Controller):
    path = DUNNING_PATH
    guards = [requires("coop.billing")]

    @get("/", opt=COOP_ONLY, name="coop-dunning")
    async def overview(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        done = request.query_params.get("done", "")
        context = {
            "proposals": await dunning.awaiting_proposals(db_session, clock.today()),
            "reminders": await dunning.recent_reminders(db_session),
            "done": done if done in DONE_MESSAGES else "",
        }
        return render(request, "coop/payments/dunning.html", context)

    @get("/{proposal_id:uuid}/suspendre", opt=COOP_ONLY)
    async def confirm_suspend(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        proposal_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        row = await dunning.proposal(db_session, proposal_id, clock.today())
        if row is None:
            raise NotFoundException()
        return render(request, "coop/payments/suspend_confirm.html", {"proposal": row, "error": ""})

    @post("/{proposal_id:uuid}/suspendre", opt=COOP_ONLY)
    async def suspend(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        proposal_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        return await _decide(request, db_session, proposal_id, dunning.SUSPENDED)

    @post("/{proposal_id:uuid}/ecarter", opt=COOP_ONLY)
    async def dismiss(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        proposal_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        return await _decide(request, db_session, proposal_id, dunning.DISMISSED)


async def _decide(
    request: Request[Any, Any, Any], db_session: AsyncSession, proposal_id: uuid.UUID, decision: str
) -> Response[Any]:
    staff = await current_staff(request, db_session)
    if staff is None:
        return await signed_out(request)
    outcome = await dunning.decide(
        db_session,
        proposal_id,
        decision,
        staff_id=staff.id,
        now=clock.now(),
        base_domain=request.app.state.settings.base_domain,
        audit=audit.record,
    )
    if outcome.missing:
        raise NotFoundException()
    if not outcome.done:
        await db_session.rollback()
        row = await dunning.proposal(db_session, proposal_id, clock.today())
        context = {"proposal": row, "error": outcome.error}
        return render(request, "coop/payments/suspend_confirm.html", context, status_code=409)
    await db_session.commit()
    await request.app.state.resolver.cache.invalidate(outcome.hosts)
    return Redirect(f"{DUNNING_PATH}?done={decision}", status_code=303)


CONTROLLERS: list[Any] = [PaymentsController, DunningController]
