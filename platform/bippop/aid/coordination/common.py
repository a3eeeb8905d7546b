"""What every coordination page shares: its navigation and renderer, the reading of typed text (trimmed,
bounded, without the invisible characters ``web.forms`` refuses), French dates and times, and who acts."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import NavLink
from bippop.accounts.auth import Identity, current_identity
from bippop.accounts.models import Person
from bippop.accounts.permissions import allowed
from bippop.modules import registry
from bippop.modules.assembly import menu_links
from bippop.modules.contract import ModuleManifest
from bippop.web.forms import first_text, without_invisible_characters
from bippop.web.i18n import _
from bippop.web.local_time import LOCAL_TIME, local_time
from bippop.web.pages import render
from bippop.web.tenant_settings import tenant_settings

INTAKE = "/coordination/appel"
REQUESTS = "/coordination/demandes"


def identity_of(request: Request) -> Identity:
    identity = current_identity(request)
    assert identity is not None  # the guard has let only signed-in people through
    return identity


def coordination_links(identity: Identity, enabled: frozenset[str]) -> list[NavLink]:
    """The coordination pages this person may open, for the navigation at the top of each."""
    links = [
        ("requests.intake", INTAKE, _("Phone intake")),
        ("requests.triage", REQUESTS, _("Requests")),
        ("requests.triage", "/coordination/taches", _("Tasks")),
        ("concerns.handle", "/coordination/signalements", _("Concerns")),
        ("people.vet", "/coordination/benevoles", _("Volunteers")),
        ("modules.configure", "/coordination/modules", _("Services offered")),
        ("modules.export", "/coordination/exports", _("Exports")),
        ("requests.triage", "/coordination/impact", _("Impact")),
    ]
    core = [NavLink(path, label) for action, path, label in links if allowed(identity.roles, action)]
    # The pages of the modules the tenant switched on, for whoever may open them.
    extra = [
        NavLink(link.path, str(link.label))
        for link in menu_links("coordination", enabled)
        if link.action is None or allowed(identity.roles, link.action)
    ]
    return [*core[:-3], *extra, *core[-3:]]


async def coordination_page(
    request: Request,
    db_session: AsyncSession,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    fragment: str | None = None,
) -> Response[str]:
    identity = identity_of(request)
    settings = await tenant_settings(request)
    enabled = settings.visible_modules(registry.installed_modules())
    context = {"coordination_links": coordination_links(identity, enabled), "local": local_time, **context}
    return render(
        request,
        template,
        context,
        status_code=status,
        fragment=fragment,
        default_locale=settings.default_locale,
    )


def scrub(value: Any, limit: int = 4000) -> Any:
    """Text without the invisible characters ``web.forms`` refuses (a form holding one is answered
    with ``form_problems`` before anything is kept), trimmed and bounded; lists item by item."""
    if isinstance(value, list):
        return [scrub(item, limit) for item in value]
    return without_invisible_characters(str(value if value is not None else "")).strip()[:limit]


def field_text(data: Mapping[str, Any], name: str, limit: int = 500) -> str:
    """One field's text (the first value if it was sent several times), trimmed and bounded."""
    text: str = scrub(first_text(data, name), limit)
    return text


# The coordination pages' fields typed on several lines (textareas): messages, event descriptions.
TEXTAREAS = frozenset({"body", "description"})


def kept_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """What was typed, to fill the form again: text, or a list for fields sent several times."""
    kept: dict[str, Any] = {}
    for name, raw in data.items():
        if name in ("_csrf_token", "action") or not isinstance(name, str):
            continue
        kept[name] = scrub(raw)
    return kept


def query_values(request: Request) -> dict[str, Any]:
    params = request.query_params
    values: dict[str, Any] = {}
    for name in dict.fromkeys(params.keys()):
        found = [scrub(v) for v in params.getall(name)]
        values[name] = found if len(found) > 1 else (found[0] if found else "")
    return values


def parse_day(text: str) -> datetime.date | None:
    """``dd/mm/yyyy`` (or ``yyyy-mm-dd``)."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            parsed = datetime.date.fromisoformat(text)
            return parsed if 1900 <= parsed.year <= 2200 else None
        found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if found:
            day, month, year = (int(g) for g in found.groups())
            parsed = datetime.date(year, month, day)
            return parsed if 1900 <= parsed.year <= 2200 else None
    except ValueError:
        return None
    return None


def parse_clock(text: str) -> datetime.time | None:
    """``HH:MM`` (also ``14h30``, ``14h``, ``9.15``)."""
    found = re.fullmatch(r"(\d{1,2})(?:\s*[:hH.]\s*(\d{2})?)?", text.strip())
    if not found:
        return None
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    if hour > 23 or minute > 59:
        return None
    return datetime.time(hour, minute)


def paris_moment(day: datetime.date, clock: datetime.time) -> datetime.datetime:
    """That day and hour in Paris, as a UTC instant."""
    return datetime.datetime.combine(day, clock, tzinfo=LOCAL_TIME).astimezone(datetime.UTC)


def small_int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\d{1,6}", text) else None


async def visible_modules(request: Request) -> frozenset[str]:
    """The modules whose requests the page shows: switched on (the tenant's cached settings) and installed."""
    return (await tenant_settings(request)).visible_modules(registry.installed_modules())


async def enabled_modules(request: Request) -> list[ModuleManifest]:
    """The manifests of those modules, in the order of lists."""
    visible = await visible_modules(request)
    return [m for slug, m in registry.installed_modules().items() if slug in visible]


async def actor_of(db_session: AsyncSession, identity: Identity) -> Person:
    person = await db_session.get(Person, identity.person_id)
    if person is None:  # the session outlived its person: nothing to show
        raise NotFoundException()
    return person
