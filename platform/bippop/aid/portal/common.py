"""What the portal pages share: days and periods, statuses, the request's readers, windows typed in forms, and one way to post a message and to announce an outcome."""

import datetime
import re
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from litestar import Request, Response
from litestar.exceptions import NotFoundException
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Mandate, Person
from bippop.aid.lifecycle import Outcome
from bippop.aid.models import (
    HelpRequest,
)
from bippop.aid.services.messages import Side, post_message
from bippop.aid.services.requests import announce_outcome
from bippop.modules import registry
from bippop.modules.contract import ModuleManifest
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.deps import tenant_of
from bippop.web.i18n import _
from bippop.web.tenant_settings import tenant_settings

PARIS = ZoneInfo("Europe/Paris")


WEEKDAYS = range(7)


PERIODS = {"morning": (9 * 60, 12 * 60), "afternoon": (14 * 60, 18 * 60), "evening": (18 * 60, 20 * 60)}


ACTIVE = ("open", "offered", "matched", "scheduled", "paused")


def weekday_name(day: int) -> str:
    return (
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    )[day]


def period_name(period: str) -> str:
    return {"morning": _("morning"), "afternoon": _("afternoon"), "evening": _("evening")}[period]


def status_label(status: str) -> str:
    return {
        "open": _("Waiting for a volunteer"),
        "offered": _("Proposed to volunteers"),
        "matched": _("A volunteer has answered"),
        "scheduled": _("Appointment set"),
        "paused": _("Paused"),
        "done": _("Done"),
        "reported": _("Done"),
        "closed": _("Closed"),
        "cancelled": _("Cancelled"),
    }.get(status, status)


def appointment_labels() -> dict[str, str]:
    """An appointment that is not ahead any more, as the people of the request read it."""
    return {"done": _("done"), "cancelled": _("cancelled"), "no_show": _("Nobody at home")}


def windows_from_form(data: dict[str, Any]) -> list[dict[str, int]]:
    chosen = data.get("when", [])
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    windows = []
    for value in chosen:
        day, _sep, period = str(value).partition("-")
        if re.fullmatch(r"[0-6]", day) and period in PERIODS:
            start, end = PERIODS[period]
            windows.append({"weekday": int(day), "start_minute": start, "end_minute": end})
    return windows


def when_values(windows: list[dict[str, int]]) -> list[str]:
    found = []
    for window in windows:
        for period, (start, _end) in PERIODS.items():
            if window["start_minute"] == start:
                found.append(f"{window['weekday']}-{period}")
    return found


async def announce(request: Request, db_session: AsyncSession, outcome: Outcome) -> None:
    """Write the outbox rows of ``outcome``, commit, then announce them."""
    ids = await announce_outcome(db_session, outcome, tenant_name=tenant_of(request).name)
    await commit_and_announce(request, db_session, ids)


async def for_whom(db_session: AsyncSession, me: Person) -> list[Person]:
    """Who this person may ask for: themself (a person helped) and whoever they hold a live mandate for."""
    people = [me] if "beneficiary" in me.roles else []
    rows = await db_session.scalars(
        select(Person)
        .join(Mandate, Mandate.beneficiary_id == Person.id)
        .where(Mandate.relative_id == me.id, Mandate.revoked_at.is_(None))
        .order_by(Person.display_name)
    )
    people.extend(rows)
    return people


async def visible_modules(request: Request) -> frozenset[str]:
    """The modules whose requests the page shows: switched on (the tenant's cached settings) and installed."""
    return (await tenant_settings(request)).visible_modules(registry.installed_modules())


async def enabled_modules(request: Request) -> list[ModuleManifest]:
    """The manifests of those modules, in the order of lists."""
    visible = await visible_modules(request)
    return [m for slug, m in registry.installed_modules().items() if slug in visible]


def module_or_404(slug: str, visible: frozenset[str]) -> ModuleManifest:
    manifest = registry.module(slug)
    if manifest is None or slug not in visible:
        raise NotFoundException()
    return manifest


async def post_message_page(
    request: Request,
    db_session: AsyncSession,
    me: Person,
    found: HelpRequest,
    body: str,
    back: str,
    on_error: Any,
) -> Response[Any]:
    side: Side = "volunteer" if me.id == found.volunteer_id else "resident"
    posted = await post_message(
        db_session, found, author_id=me.id, body=body, side=side, tenant_name=tenant_of(request).name
    )
    if posted.errors:
        return await on_error(posted.errors)
    await commit_and_announce(request, db_session, posted.message_ids)
    return Redirect(back + "#messages", status_code=303)


async def undo(db_session: AsyncSession, *shown: object) -> None:
    """A refused change leaves nothing behind: roll back, then reload what the page shows."""
    await db_session.rollback()
    for instance in shown:
        await db_session.refresh(instance)


def parse_local(day: str, time: str) -> datetime.datetime | None:
    try:
        d, m, y = (int(x) for x in day.strip().split("/"))
        if not 1900 <= y <= 2200:
            return None
        hh, mm = (int(x) for x in time.strip().replace("h", ":").split(":"))
        return datetime.datetime(y, m, d, hh, mm, tzinfo=PARIS).astimezone(datetime.UTC)
    except (ValueError, TypeError, OverflowError):
        return None


def period_key(start_minute: int) -> str:
    for key, (start, _end) in PERIODS.items():
        if start == start_minute:
            return key
    return "morning" if start_minute < 12 * 60 else "afternoon"


class StartsAtMinute(Protocol):
    """An availability window, or a row of its columns."""

    @property
    def start_minute(self) -> int: ...


def period_of(window: StartsAtMinute) -> str:
    return period_name(period_key(window.start_minute))


def mood_label(mood: str) -> str:
    return {"good": _("In good spirits"), "fair": _("Fair"), "low": _("Low"), "worrying": _("Worrying")}[mood]


def sign_label(sign: str) -> str:
    return {
        "fall": _("A fall, or fear of falling"),
        "not_eating": _("Not eating well"),
        "low_mood": _("Low mood, withdrawn"),
        "unmet_need": _("A need nobody answers"),
        "other": _("Something else worries me"),
    }[sign]
