"""What a volunteer's dashboard (``/benevole``) shows, read in one round trip.

The page is the one a volunteer opens most, so it reads plain rows (Core, the columns it shows) rather
than whole ORM objects, and sends its four reads together (``db.reads.read_together``: with BEGIN, the
scoping and COMMIT, one flight instead of seven round trips):

0. the volunteer (``accounts.services.people.PERSON_BY_ID``);
1. the requests: those the volunteer could take (open or offered, of a module shown here, the newest
   ``CANDIDATES``), each with whether it was offered to them or declined by them, and, beside them, the
   requests they already help with;
2. their appointments: those still to come and the past ones they have not reported yet;
3. their availability windows.

Which requests are near is decided here, not in SQL: the module's rules (vetting, skills) depend on the
volunteer only, so they are checked once per module, and the distance on the rows kept."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.accounts.services.people import PERSON_BY_ID, person_from
from bippop.aid import lifecycle
from bippop.aid.models import Appointment, AvailabilityWindow, HelpRequest, RequestOffer, VisitReport
from bippop.db.reads import Read, read_together
from bippop.geography import distance_km
from bippop.modules import registry
from bippop.modules.contract import ModuleManifest

CANDIDATES = 300  # the newest requests looked at for "near me"
SHOWN_NEAR = 30
UPCOMING = 50
TO_REPORT = 20
OPEN = ("open", "offered")
HELPING = ("matched", "scheduled", "paused")


@dataclasses.dataclass(frozen=True)
class RequestRef:
    """The request an appointment is for, as the page links it."""

    id: uuid.UUID
    module: str


@dataclasses.dataclass(frozen=True)
class NearRequest:
    request: Any  # id, module, details, created_at
    module: ModuleManifest
    km: float | None
    offered: bool


@dataclasses.dataclass(frozen=True)
class VolunteerDashboard:
    me: Person  # a copy for reading (``person_from``)
    near: list[NearRequest]
    appointments: list[tuple[Any, RequestRef, ModuleManifest | None]]  # to come, the soonest first
    to_report: list[tuple[Any, RequestRef, ModuleManifest | None]]  # the latest first
    mine: list[tuple[Any, ModuleManifest | None]]
    windows: Sequence[Any]  # weekday, start_minute, end_minute, in the week's order


# Built once, with the volunteer, the modules shown and the moment as parameters: building a statement
# of this size costs more (~0.6 ms) than sending it, and a statement built once keeps its cache key.
_ME: BindParameter[uuid.UUID] = bindparam("me")
_NOW: BindParameter[datetime.datetime] = bindparam("now")


def _requests_statement() -> Any:
    offer = select(RequestOffer.id).where(
        RequestOffer.request_id == HelpRequest.id, RequestOffer.volunteer_id == _ME
    )
    columns = (
        HelpRequest.id,
        HelpRequest.module,
        HelpRequest.details,
        HelpRequest.latitude,
        HelpRequest.longitude,
        HelpRequest.created_at,
    )
    candidates = (
        select(
            *columns,
            literal(False).label("mine"),
            offer.where(RequestOffer.declined_at.is_(None)).exists().label("offered"),
            offer.where(RequestOffer.declined_at.is_not(None)).exists().label("declined"),
        )
        .where(HelpRequest.status.in_(OPEN), HelpRequest.module.in_(bindparam("visible", expanding=True)))
        .order_by(HelpRequest.created_at.desc())
        .limit(bindparam("candidates"))
    )
    helping = select(*columns, literal(True), literal(False), literal(False)).where(
        HelpRequest.volunteer_id == _ME, HelpRequest.status.in_(HELPING)
    )
    return union_all(candidates, helping)


def _appointments_statement() -> Any:
    reported = (
        select(VisitReport.id)
        .where(VisitReport.appointment_id == Appointment.id, VisitReport.author_id == _ME)
        .exists()
    )
    columns = (Appointment.id, Appointment.starts_at, HelpRequest.id.label("request_id"), HelpRequest.module)
    mine = select(*columns).join(HelpRequest, HelpRequest.id == Appointment.request_id)
    upcoming = (
        mine.add_columns(literal("upcoming").label("list"))
        .where(
            Appointment.volunteer_id == _ME,
            Appointment.status == "scheduled",
            Appointment.starts_at > _NOW,
        )
        .order_by(Appointment.starts_at)
        .limit(UPCOMING)
    )
    unreported = (
        mine.add_columns(literal("to_report"))
        .where(
            Appointment.volunteer_id == _ME,
            Appointment.status.in_(("done", "scheduled")),
            Appointment.starts_at < _NOW,
            ~reported,
        )
        .order_by(Appointment.starts_at.desc())
        .limit(TO_REPORT)
    )
    return union_all(upcoming, unreported)


REQUESTS = Read(_requests_statement())
APPOINTMENTS = Read(_appointments_statement())
WINDOWS = Read(
    select(AvailabilityWindow.weekday, AvailabilityWindow.start_minute, AvailabilityWindow.end_minute)
    .where(AvailabilityWindow.person_id == _ME)
    .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_minute)
)


def _near(rows: Sequence[Any], me: Person, today: datetime.date) -> list[NearRequest]:
    """The candidates the volunteer may take and that are near (or offered to them): offered first, then
    the nearest."""
    allowed: dict[str, ModuleManifest | None] = {}
    near = []
    for row in rows:
        if row.module not in allowed:
            manifest = registry.module(row.module)
            allowed[row.module] = (
                manifest if manifest and not lifecycle.eligibility_problem(manifest, me, today) else None
            )
        manifest = allowed[row.module]
        if manifest is None or row.declined:
            continue
        km = None
        if None not in (row.latitude, row.longitude, me.latitude, me.longitude):
            km = distance_km(row.latitude, row.longitude, me.latitude, me.longitude)  # type: ignore[arg-type]
        if km is not None and km > me.max_distance_km and not row.offered:
            continue
        near.append(NearRequest(row, manifest, km, bool(row.offered)))
    near.sort(key=lambda n: n.request.created_at, reverse=True)  # the newest first among equals
    near.sort(key=lambda n: (not n.offered, n.km if n.km is not None else 999))
    return near[:SHOWN_NEAR]


async def volunteer_dashboard(
    db_session: AsyncSession,
    person_id: uuid.UUID,
    visible: frozenset[str],
    *,
    now: datetime.datetime,
    today: datetime.date,
) -> VolunteerDashboard | None:
    """The dashboard of the volunteer ``person_id``; None when there is no such person any more."""
    people, requests, appointments, windows = await read_together(
        db_session,
        [
            (PERSON_BY_ID, {"person_id": person_id}),
            (REQUESTS, {"me": person_id, "visible": sorted(visible), "candidates": CANDIDATES}),
            (APPOINTMENTS, {"me": person_id, "now": now}),
            (WINDOWS, {"me": person_id}),
        ],
    )
    me = person_from(people)
    if me is None:
        return None

    def with_module(row: Any) -> tuple[Any, RequestRef, ModuleManifest | None]:
        return row, RequestRef(row.request_id, row.module), registry.module(row.module)

    return VolunteerDashboard(
        me=me,
        near=_near([r for r in requests if not r.mine], me, today),
        # Each branch of a UNION ALL keeps its order in PostgreSQL, but SQL does not promise it: sorted here.
        appointments=[
            with_module(a) for a in sorted(appointments, key=lambda a: a.starts_at) if a.list == "upcoming"
        ],
        to_report=[
            with_module(a)
            for a in sorted(appointments, key=lambda a: a.starts_at, reverse=True)
            if a.list == "to_report"
        ],
        mine=[(r, registry.module(r.module)) for r in requests if r.mine and r.module in visible],
        windows=windows,
    )
