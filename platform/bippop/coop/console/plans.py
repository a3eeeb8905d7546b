"""``/offres``: the plans the co-op offers — the list, a plan's page with its price history, a new plan,
a new price from a coming period, archiving (confirmed first) and the default plan. Every member of the
staff reads them (``coop.billing``); only administrators change them (``coop.plans``). Parse, one use
case (``coop/services/plans.py``), render or redirect."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.permissions import allowed, requires
from bippop.billing.models import Plan, PlanPrice
from bippop.billing.periods import calendar_period
from bippop.billing.pricing import plan_as_of, versions_query
from bippop.billing.services.plans import BAND_ROWS, Outcome, next_period_start
from bippop.coop.console.common import COOP_ONLY, current_staff, signed_out
from bippop.coop.services import plans as use_cases
from bippop.web.formats import babel_locale
from bippop.web.forms import FormData, form_fields, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render

PATH = "/offres"
MAX_FIELD = 200  # no field of these forms needs more
DONE = ("created", "repriced", "archived", "default")


def euros(value: Decimal | str | None) -> str:
    """An amount in euros with as many decimals as it has (a unit price: « 0,2525 € »), at least two."""
    if value is None:
        return "—"
    return format_currency(
        Decimal(str(value)).normalize(), "EUR", locale=babel_locale(), decimal_quantization=False
    )


def kind_label(kind: str) -> str:
    labels = {"per_inhabitant": _("Per inhabitant"), "flat": _("Flat price"), "tiered": _("Population bands")}
    return labels.get(kind, kind)


def period_label(period: str) -> str:
    return {"yearly": _("Yearly"), "monthly": _("Monthly")}.get(period, period)


def describe(plan: Plan | PlanPrice, kind: str) -> str:
    """A plan's yearly price in words, excluding VAT."""
    if kind == "per_inhabitant":
        text = _("%(price)s per inhabitant a year") % {"price": euros(plan.unit_price)}
        if plan.floor_price is not None:
            text += ", " + _("at least %(price)s") % {"price": euros(plan.floor_price)}
        if plan.cap_price is not None:
            text += ", " + _("at most %(price)s") % {"price": euros(plan.cap_price)}
        return text
    if kind == "flat":
        return _("%(price)s a year") % {"price": euros(plan.flat_price)}
    bands = [
        _("up to %(count)s inhabitants: %(price)s") % {"count": band["up_to"], "price": euros(band["price"])}
        if band.get("up_to") is not None
        else _("above that: %(price)s") % {"price": euros(band["price"])}
        for band in plan.tiers or []
    ]
    return _("By population, a year: %(bands)s") % {"bands": "; ".join(bands)}


def price_values(plan: Plan | PlanPrice) -> dict[str, str]:
    """A price's terms as the form's fields (the re-pricing form starts from the current price)."""
    values = {
        name: str(getattr(plan, name))
        for name in ("unit_price", "flat_price", "floor_price", "cap_price", "vat_rate")
        if getattr(plan, name) is not None
    }
    for n, band in enumerate(plan.tiers or [], start=1):
        values[f"band_up_to_{n}"] = "" if band.get("up_to") is None else str(band["up_to"])
        values[f"band_price_{n}"] = str(band["price"])
    return values


def _form(data: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The form's fields, and the messages of those holding a refused character or too long a text."""
    form = form_fields(data)
    problems = form_problems(data)
    for name, value in form.items():
        if len(value) > MAX_FIELD and name not in problems:
            problems[name] = _("Use at most %(count)d characters.") % {"count": MAX_FIELD}
    return form, problems


async def _plan(db_session: AsyncSession, plan_id: uuid.UUID) -> Plan:
    plan = await db_session.get(Plan, plan_id)
    if plan is None:
        raise NotFoundException()
    return plan


async def _plan_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    plan: Plan,
    staff_roles: list[str],
    *,
    outcome: Outcome | None = None,
    values: dict[str, str] | None = None,
) -> Response[str]:
    today = clock.today()
    begun = calendar_period(plan.period, today).start  # the current period is priced as it began
    versions = list(await db_session.scalars(versions_query([plan.id])))
    current = plan_as_of(plan, versions, begun)
    applied = max(
        (v for v in versions if v.effective_from <= begun), key=lambda v: v.effective_from, default=None
    )
    history: list[dict[str, Any]] = [
        {"from": None, "price": describe(plan, plan.kind), "vat_rate": plan.vat_rate, "state": "past"}
    ]
    history += [
        {"from": v.effective_from, "price": describe(v, plan.kind), "vat_rate": v.vat_rate, "state": "past"}
        for v in versions
    ]
    for row, version in zip(history, [None, *versions], strict=True):
        if version is applied:
            row["state"] = "current"
        elif version is not None and version.effective_from > begun:
            row["state"] = "coming"
    context = {
        "plan": plan,
        "kind": kind_label(plan.kind),
        "period": period_label(plan.period),
        "current_price": describe(current, plan.kind),
        "vat_rate": current.vat_rate,
        "history": history,
        "earliest": next_period_start(plan.period, today),
        "values": values if values is not None else price_values(current),
        "errors": outcome.errors if outcome else {},
        "band_rows": range(1, BAND_ROWS + 1),
        "can_change": allowed(staff_roles, "coop.plans"),
        "done": request.query_params.get("fait") if request.query_params.get("fait") in DONE else None,
    }
    status = 400 if outcome and outcome.errors else 200
    return render(request, "coop/plans/plan.html", context, status_code=status)


def _new_page(
    request: Request[Any, Any, Any], values: dict[str, str], errors: dict[str, str]
) -> Response[str]:
    context = {"values": values, "errors": errors, "band_rows": range(1, BAND_ROWS + 1)}
    return render(request, "coop/plans/new.html", context, status_code=400 if errors else 200)


def _done(plan: Plan, what: str) -> Redirect:
    return Redirect(f"{PATH}/{plan.id}?fait={what}", status_code=303)


class PlansController(Controller):
    path = PATH

    @get("/", opt=COOP_ONLY, guards=[requires("coop.billing")], name="coop-plans")
    async def list_plans(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        plans = list(
            await db_session.scalars(
                select(Plan).order_by(Plan.archived_at.is_not(None), Plan.is_default.desc(), Plan.name)
            )
        )
        today = clock.today()
        versions = list(await db_session.scalars(versions_query([p.id for p in plans])))
        rows = []
        for plan in plans:
            current = plan_as_of(plan, versions, calendar_period(plan.period, today).start)
            rows.append(
                {
                    "plan": plan,
                    "kind": kind_label(plan.kind),
                    "period": period_label(plan.period),
                    "price": describe(current, plan.kind),
                    "vat_rate": current.vat_rate,
                }
            )
        context = {"rows": rows, "can_change": allowed(staff.roles, "coop.plans")}
        return render(request, "coop/plans/list.html", context)

    @get("/nouvelle", opt=COOP_ONLY, guards=[requires("coop.plans")], name="coop-plan-new")
    async def new_form(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return _new_page(request, {"kind": "per_inhabitant", "period": "yearly", "vat_rate": "20"}, {})

    @post("/nouvelle", opt=COOP_ONLY, guards=[requires("coop.plans")])
    async def create(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        form, problems = _form(data)
        if problems:
            return _new_page(request, form, problems)
        outcome = await use_cases.create(db_session, form, staff_id=staff.id)
        if not outcome.ok or outcome.plan is None:
            return _new_page(request, form, outcome.errors)
        await db_session.commit()
        return _done(outcome.plan, "created")

    @get("/{plan_id:uuid}", opt=COOP_ONLY, guards=[requires("coop.billing")], name="coop-plan")
    async def show(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        plan_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        return await _plan_page(request, db_session, await _plan(db_session, plan_id), staff.roles)

    @post("/{plan_id:uuid}/prix", opt=COOP_ONLY, guards=[requires("coop.plans")])
    async def reprice(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        plan_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        plan = await _plan(db_session, plan_id)
        form, problems = _form(data)
        if problems:
            return await _plan_page(
                request, db_session, plan, staff.roles, outcome=Outcome(errors=problems), values=form
            )
        outcome = await use_cases.reprice(db_session, plan, form, staff_id=staff.id, today=clock.today())
        if not outcome.ok:
            return await _plan_page(request, db_session, plan, staff.roles, outcome=outcome, values=form)
        await db_session.commit()
        return _done(plan, "repriced")

    @get("/{plan_id:uuid}/archiver", opt=COOP_ONLY, guards=[requires("coop.plans")], name="coop-plan-archive")
    async def archive_form(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        plan_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        plan = await _plan(db_session, plan_id)
        return render(request, "coop/plans/archive.html", {"plan": plan, "error": None})

    @post("/{plan_id:uuid}/archiver", opt=COOP_ONLY, guards=[requires("coop.plans")])
    async def archive(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        plan_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        plan = await _plan(db_session, plan_id)
        outcome = await use_cases.archive(db_session, plan, staff_id=staff.id, now=clock.now())
        if not outcome.ok:
            context = {"plan": plan, "error": outcome.errors.get("form")}
            return render(request, "coop/plans/archive.html", context, status_code=400)
        await db_session.commit()
        return _done(plan, "archived")

    @post("/{plan_id:uuid}/par-defaut", opt=COOP_ONLY, guards=[requires("coop.plans")])
    async def make_default(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        plan_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        plan = await _plan(db_session, plan_id)
        outcome = await use_cases.make_default(db_session, plan, staff_id=staff.id)
        if not outcome.ok:
            return await _plan_page(request, db_session, plan, staff.roles, outcome=outcome)
        await db_session.commit()
        return _done(plan, "default")


CONTROLLERS: list[Any] = [PlansController]
