"""Console pages: the co-op's revenue for a year (``/revenus``), its accountant's CSV
(``/revenus/export.csv``) and its FEC (``/revenus/fec.txt``). Read-only."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from babel.dates import get_month_names
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.permissions import requires
from bippop.billing.services import fec, revenue
from bippop.coop.console.common import COOP_ONLY, current_staff, signed_out
from bippop.web.formats import babel_locale
from bippop.web.pages import render

PATH = "/revenus"
FIRST_YEAR = 2020
CHART_HEIGHT = 200  # the bars' drawing height, in SVG units
BAR_WIDTH = 18


def chosen_year(request: Request[Any, Any, Any]) -> int:
    """``?year=`` when it is a plausible year, else the current one."""
    current = clock.today().year
    raw = request.query_params.get("year", "")
    if raw.isdigit() and len(raw) == 4 and int(raw) >= 2000:
        return int(raw)
    return current


@dataclasses.dataclass(frozen=True)
class Bar:
    month: str
    x: int
    invoiced: Decimal
    paid: Decimal
    invoiced_height: int
    paid_height: int


def bars(figures: revenue.Revenue) -> list[Bar]:
    """Each month's two bars (invoiced, paid), scaled to the highest figure of the year; a negative
    month (more credited than invoiced) draws no invoiced bar (the table gives the figure)."""
    names = get_month_names("abbreviated", locale=babel_locale())
    top = figures.highest_month
    found = []
    for month, invoiced, paid in figures.months:
        found.append(
            Bar(
                month=str(names[month]),
                x=50 + (month - 1) * 48,
                invoiced=invoiced,
                paid=paid,
                invoiced_height=int(max(invoiced, Decimal(0)) / top * CHART_HEIGHT),
                paid_height=int(max(paid, Decimal(0)) / top * CHART_HEIGHT),
            )
        )
    return found


def _download(body: bytes, media_type: str, name: str) -> Response[bytes]:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


class RevenueController(Controller):
    path = PATH
    guards = [requires("coop.billing")]

    @get("/", opt=COOP_ONLY, name="coop-revenue")
    async def overview(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        year = chosen_year(request)
        figures = await revenue.revenue(db_session, year, clock.today())
        current = clock.today().year
        context = {
            "figures": figures,
            "bars": bars(figures),
            "chart_height": CHART_HEIGHT,
            "bar_width": BAR_WIDTH,
            "year": year,
            "years": sorted({year, *range(FIRST_YEAR, current + 2)}, reverse=True),
        }
        return render(request, "coop/revenue/overview.html", context)

    @get("/export.csv", opt=COOP_ONLY)
    async def export_csv(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        year = chosen_year(request)
        body = revenue.documents_csv(await revenue.documents(db_session, year))
        return _download(body, "text/csv; charset=utf-8", f"factures-{year}.csv")

    @get("/fec.txt", opt=COOP_ONLY)
    async def export_fec(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        year = chosen_year(request)
        docs = await revenue.documents(db_session, year)
        payments = await revenue.received(db_session, year)
        body = fec.fec_text(fec.entries(docs, payments, year))
        name = fec.file_name(request.app.state.settings.coop_siren, year)
        return _download(body, "text/plain; charset=utf-8", name)


CONTROLLERS: list[Any] = [RevenueController]
