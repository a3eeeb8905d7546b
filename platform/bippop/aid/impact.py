"""The council's impact figures: each enabled module's statistics (from its manifest), over a period."""

from __future__ import annotations

import datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.permissions import requires
from bippop.aid.coordination import coordination_page
from bippop.aid.coordination.common import enabled_modules
from bippop.aid.models import HelpRequest
from bippop.web.deps import PAGE_DEPENDENCIES

PERIODS = {"30": 30, "90": 90, "365": 365}
HELPED = ("done", "reported", "closed")  # the help was given: its time counts


class ImpactController(Controller):
    path = "/coordination/impact"
    dependencies = PAGE_DEPENDENCIES

    @get("/", guards=[requires("requests.triage")], name="coordination-impact")
    async def impact(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        locale: NamedDependency[str],
        jours: FromQuery[str] = "90",
    ) -> Response[str]:
        days = PERIODS.get(jours, 90)
        since = clock.now() - datetime.timedelta(days=days)
        modules = await enabled_modules(request)
        rows = (
            await db_session.execute(
                select(
                    HelpRequest.module, HelpRequest.status, HelpRequest.details, HelpRequest.duration_minutes
                ).where(HelpRequest.created_at >= since, HelpRequest.module.in_([m.slug for m in modules]))
            )
        ).all()
        by_module: dict[str, list[dict[str, Any]]] = {m.slug: [] for m in modules}
        for module, status, details, duration in rows:
            by_module[module].append(
                {"status": status, "details": details or {}, "duration_minutes": duration}
            )
        sections = [
            {
                "module": manifest,
                "requests": len(by_module[manifest.slug]),
                "minutes": sum(
                    r["duration_minutes"] or 0 for r in by_module[manifest.slug] if r["status"] in HELPED
                ),
                "figures": [
                    (str(stat.label), stat.compute(by_module[manifest.slug])) for stat in manifest.statistics
                ],
            }
            for manifest in modules
        ]
        context = {"sections": sections, "days": days, "periods": list(PERIODS.values())}
        return await coordination_page(request, db_session, "coordination/impact.html", context)
