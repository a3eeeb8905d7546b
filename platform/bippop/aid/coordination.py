"""The coordinator's side of help requests, and partner agents' intake.

- ``/coordination/appel``: a request heard on the phone, recorded in one keyboard-only page (an existing
  person found by name or phone, or a new one; the service and its questions; preferred times).
- ``/coordination/demandes``: every request of the services shown for the tenant, and one request's page
  (details, the person's contact — each reading recorded —, history, appointments, reports, messages,
  ranked volunteers) with its actions, each a form calling ``aid.lifecycle``.
- ``/coordination/taches`` and ``/coordination/signalements``: what coordinators must do, and concerns.
- ``/coordination/benevoles``: volunteers' vetting, skills and languages.
- ``/coordination/evenements``: group events; ``/coordination/modules``: the services switched on.

Every handler names its action from the permission matrix. Everything is read in the request's tenant
schema, so another tenant's id finds nothing: 404. Forms work without JavaScript (post, then redirect
with a short confirmation); htmx only spares a reload (live search, a service's questions). Each error
is shown next to its field, with a summary at the top.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts import services as accounts
from bippop.accounts.admin import (
    LOCAL_TIME,
    NavLink,
    _identity,
    _local,
    _names,
    _page_number,
    _paginate,
    _tenant,
    _use_locale,
    _uuid,
    _values,
    _with_role,
    escape_like,
)
from bippop.accounts.auth import Identity
from bippop.accounts.controllers import FormData, _commit_and_send
from bippop.accounts.models import Person
from bippop.accounts.permissions import STAFF, allowed, requires
from bippop.aid import events as event_service
from bippop.aid import lifecycle, matching
from bippop.aid.contact import contact_for
from bippop.aid.lifecycle import ACTIVE, AlreadyTaken, LifecycleError, Outcome
from bippop.aid.models import (
    REQUEST_STATUSES,
    Appointment,
    AppointmentSeries,
    Concern,
    CoordinatorTask,
    Event,
    EventRegistration,
    HelpRequest,
    RequestEvent,
    RequestMessage,
    RequestOffer,
    VisitReport,
)
from bippop.aid.offering import offer_to_best
from bippop.modules import registry
from bippop.modules.contract import ModuleManifest
from bippop.notifications.dispatch import notify_all
from bippop.web.drafts import take_draft
from bippop.web.forms import first_text, form_problems, without_invisible_characters
from bippop.web.i18n import _
from bippop.web.pages import render, tenant_default_locale

INTAKE = "/coordination/appel"
REQUESTS = "/coordination/demandes"
CHANNELS = ("email", "sms", "voice", "coordinator")
HALF_DAYS = {"am": (9 * 60, 12 * 60), "pm": (14 * 60, 18 * 60)}
MAX_OFFER = 20
SEARCH_LIMIT = 10
INSEE_CODE = re.compile(r"^(?:\d{2}|2[AB])\d{3}$")
POSTCODE = re.compile(r"^\d{5}$")
LANGUAGES = ("fr", "en", "ar", "es", "pt", "it", "de", "tr", "ro", "pl", "lsf")


# --- labels (English msgids, translated) --------------------------------------------------------


def status_labels() -> dict[str, str]:
    return {
        "open": _("Waiting for a volunteer"),
        "offered": _("Offered to volunteers"),
        "matched": _("Volunteer found"),
        "scheduled": _("Appointment set"),
        "done": _("Help given"),
        "reported": _("Visit reported"),
        "closed": _("Closed"),
        "cancelled": _("Cancelled"),
        "paused": _("Paused"),
    }


def created_as_labels() -> dict[str, str]:
    return {
        "beneficiary": _("By the person helped"),
        "relative": _("By a relative"),
        "partner": _("By a partner organisation"),
        "coordinator": _("By the town hall, on the phone"),
    }


def appointment_labels() -> dict[str, str]:
    return {
        "scheduled": _("Planned"),
        "done": _("Done"),
        "no_show": _("Nobody at home"),
        "cancelled": _("Cancelled"),
    }


def mood_labels() -> dict[str, str]:
    return {
        "good": _("In good spirits"),
        "fair": _("All right"),
        "low": _("Low"),
        "worrying": _("Worrying"),
    }


def warning_labels() -> dict[str, str]:
    return {
        "fall": _("A fall"),
        "not_eating": _("Not eating properly"),
        "low_mood": _("Low mood"),
        "unmet_need": _("A need nobody meets"),
        "other": _("Something else"),
    }


def channel_labels() -> dict[str, str]:
    return {
        "email": _("E-mail"),
        "sms": _("Text message (SMS)"),
        "voice": _("Phone call (automated message)"),
        "coordinator": _("The coordinator phones them (no internet)"),
    }


def weekday_labels() -> list[str]:
    return [
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    ]


def vetting_labels() -> dict[int, str]:
    return {
        0: _("Not checked yet: only for help that needs no check"),
        1: _("Identity checked"),
        2: _("Fully vetted: interview and criminal record extract"),
    }


def skill_labels() -> dict[str, str]:
    return {
        "admin_formalities": _("Help with forms and paperwork"),
        "errands": _("Errands and shopping"),
        "digital_help": _("Help with computers and phones"),
        "reading_aloud": _("Reading aloud"),
        "mentoring": _("Passing on skills to the young"),
        "walking_companion": _("Walking companion"),
    }


def language_labels() -> dict[str, str]:
    return {
        "fr": _("French"),
        "en": _("English"),
        "ar": _("Arabic"),
        "es": _("Spanish"),
        "pt": _("Portuguese"),
        "it": _("Italian"),
        "de": _("German"),
        "tr": _("Turkish"),
        "ro": _("Romanian"),
        "pl": _("Polish"),
        "lsf": _("French Sign Language"),
    }


def task_labels() -> dict[str, tuple[str, str]]:
    """kind → (what happened, what to do)."""
    return {
        "call_person": (
            _("Phone the person"),
            _(
                "Call them: they have no internet, or visits found nobody. Note what they say in the request's messages."
            ),
        ),
        "warning_sign": (
            _("Warning sign in a visit report"),
            _("Read the report and check on the person today."),
        ),
        "vetting_lost": (
            _("A volunteer is no longer vetted enough for a request"),
            _("Decide: renew their vetting, or take them off the request and find another volunteer."),
        ),
        "concern": (
            _("A concern was reported"),
            _("Read the concern and act on it, then mark it handled."),
        ),
        "unmatched": (
            _("Nobody has answered a request"),
            _("Phone volunteers you know, or offer the request to more of them."),
        ),
    }


def done_messages() -> dict[str, str]:
    return {
        "created": _("The request is recorded. Now find a volunteer for it below."),
        "assign": _("The volunteer is matched with the request. They and the person helped are told."),
        "offer": _("The request is offered: the volunteers find it in their next digest."),
        "schedule": _("The appointment is set. The volunteer and the person helped are told."),
        "series": _("The regular visits are set. The volunteer and the person helped are told."),
        "reassign": _("The volunteer is taken off the request, which is open again."),
        "cancel": _("The request is cancelled. Those concerned are told."),
        "close": _("The request is closed."),
        "pause": _("The regular visits are paused."),
        "resume": _("The regular visits have resumed."),
        "message": _("Your message is sent."),
    }


# --- small helpers -----------------------------------------------------------------------------


def coordination_links(identity: Identity) -> list[NavLink]:
    """The coordination pages this person may open, for the navigation at the top of each."""
    links = [
        ("requests.intake", INTAKE, _("Phone intake")),
        ("requests.triage", REQUESTS, _("Requests")),
        ("requests.triage", "/coordination/taches", _("Tasks")),
        ("concerns.handle", "/coordination/signalements", _("Concerns")),
        ("people.vet", "/coordination/benevoles", _("Volunteers")),
        ("events.manage", "/coordination/evenements", _("Events")),
        ("modules.configure", "/coordination/modules", _("Services offered")),
        ("requests.triage", "/coordination/impact", _("Impact")),
    ]
    return [NavLink(path, label) for action, path, label in links if allowed(identity.roles, action)]


async def _coordination_page(
    request: Request,
    db_session: AsyncSession,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    fragment: str | None = None,
) -> Response[str]:
    identity = _identity(request)
    context = {"coordination_links": coordination_links(identity), "local": _local, **context}
    locale = await tenant_default_locale(db_session)
    return render(request, template, context, status_code=status, fragment=fragment, default_locale=locale)


def _scrub(value: Any, limit: int = 4000) -> Any:
    """Text without the invisible characters ``web.forms`` refuses (a form holding one is answered
    with ``form_problems`` before anything is kept), trimmed and bounded; lists item by item."""
    if isinstance(value, list):
        return [_scrub(item, limit) for item in value]
    return without_invisible_characters(str(value if value is not None else "")).strip()[:limit]


def _text(data: Mapping[str, Any], name: str, limit: int = 500) -> str:
    """One field's text (the first value if it was sent several times), trimmed and bounded."""
    text: str = _scrub(first_text(data, name), limit)
    return text


# The coordination pages' fields typed on several lines (textareas): messages, event descriptions.
TEXTAREAS = frozenset({"body", "description"})


def _kept(data: Mapping[str, Any]) -> dict[str, Any]:
    """What was typed, to fill the form again: text, or a list for fields sent several times."""
    kept: dict[str, Any] = {}
    for name, raw in data.items():
        if name in ("_csrf_token", "action") or not isinstance(name, str):
            continue
        kept[name] = _scrub(raw)
    return kept


def _query_values(request: Request) -> dict[str, Any]:
    params = request.query_params
    values: dict[str, Any] = {}
    for name in dict.fromkeys(params.keys()):
        found = [_scrub(v) for v in params.getall(name)]
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


def _int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\d{1,6}", text) else None


def _phone_problem(phone: str) -> str | None:
    compact = re.sub(r"[\s.\-()]", "", phone)
    if re.fullmatch(r"0\d{9}", compact) or re.fullmatch(r"\+\d{8,15}", compact):
        return None
    return _("Enter a phone number like 06 12 34 56 78.")


def _phone_digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits


def masked_phone(phone: str | None) -> str:
    """Enough of a number to tell two people apart on the phone, not to call them: ``…56 78``."""
    digits = re.sub(r"\D", "", phone or "")
    return f"…{digits[-4:-2]} {digits[-2:]}" if len(digits) >= 4 else ""


def _is_beneficiary(person: Person | None) -> bool:
    return person is not None and "beneficiary" in person.roles and person.disabled_at is None


async def _visible(db_session: AsyncSession) -> frozenset[str]:
    return registry.visible_modules(await registry.enabled_slugs(db_session))


async def _actor(db_session: AsyncSession, identity: Identity) -> Person:
    person = await db_session.get(Person, identity.person_id)
    if person is None:  # the session outlived its person: nothing to show
        raise NotFoundException()
    return person


# --- phone intake ------------------------------------------------------------------------------

INTAKE_DEFAULTS: dict[str, Any] = {
    "q": "",
    "searched": "",
    "beneficiary": "",
    "new_name": "",
    "new_phone": "",
    "new_email": "",
    "new_address": "",
    "new_postcode": "",
    "new_commune_code": "",
    "new_channel": "",
    "module": "",
    "shown_module": "",
    "recurring": "",
    "times": [],
}


async def search_beneficiaries(db_session: AsyncSession, text: str) -> list[Person]:
    """People helped whose name holds ``text``, or whose phone number holds its digits (4 at least)."""
    text = text.strip()[:100]
    if len(text) < 2:
        return []
    conditions: list[ColumnElement[bool]] = [Person.display_name.ilike(f"%{escape_like(text)}%", escape="\\")]
    digits = _phone_digits(text)
    if len(digits) >= 4:
        stored = func.regexp_replace(
            func.regexp_replace(Person.phone, r"\D", "", "g"), "^33(\\d{9})$", "0\\1"
        )
        conditions.append(stored.contains(digits))
    found = await db_session.scalars(
        select(Person)
        .where(_with_role("beneficiary"), Person.disabled_at.is_(None), or_(*conditions))
        .order_by(func.lower(Person.display_name), Person.id)
        .limit(SEARCH_LIMIT)
    )
    return list(found)


def _module_values(manifest: ModuleManifest | None, values: dict[str, Any]) -> dict[str, Any]:
    """The module's fields as its macro expects them: a list for checkboxes, one text otherwise."""
    shaped = dict(values)
    if manifest is None:
        return shaped
    for field in manifest.fields:
        raw = values.get(field.name)
        if field.kind == "choices":
            shaped[field.name] = raw if isinstance(raw, list) else ([raw] if raw else [])
        elif isinstance(raw, list):
            shaped[field.name] = raw[0] if raw else ""
    return shaped


def _first_field_id(manifest: ModuleManifest) -> str | None:
    for field in manifest.fields:
        if field.kind in ("choice", "choices") and field.choices:
            return f"{field.name}-{field.choices[0].value}"
        return f"field-{field.name}"
    return None


async def _intake_page(
    request: Request,
    db_session: AsyncSession,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    focus: str = "q",
    notice: str | None = None,
    status: int = 200,
    fragment: str | None = None,
) -> Response[str]:
    values = {**INTAKE_DEFAULTS, **{k: _scrub(v) for k, v in values.items() if isinstance(k, str)}}
    if not isinstance(values["times"], list):
        values["times"] = [values["times"]] if values["times"] else []
    for name, default in INTAKE_DEFAULTS.items():
        if isinstance(default, str) and isinstance(values[name], list):
            values[name] = values[name][0] if values[name] else ""
    modules = await registry.enabled_modules(db_session)
    manifest = next((m for m in modules if m.slug == values["module"]), None)
    results = await search_beneficiaries(db_session, values["q"])
    chosen = None
    chosen_id = _uuid(values["beneficiary"]) if values["beneficiary"] != "new" else None
    if chosen_id is not None and chosen_id not in {p.id for p in results}:
        person = await db_session.get(Person, chosen_id)
        chosen = person if _is_beneficiary(person) else None
    context = {
        "values": _module_values(manifest, values),
        "errors": errors or {},
        "focus": focus,
        "notice": notice,
        "modules": modules,
        "manifest": manifest,
        "results": results,
        "chosen": chosen,
        "searched": len(values["q"].strip()) >= 2,
        "channel_options": list(channel_labels().items()),
        "weekdays": list(enumerate(weekday_labels())),
        "first_field": _first_field_id(manifest) if manifest else None,
        "masked_phone": masked_phone,
    }
    return await _coordination_page(
        request, db_session, "coordination/intake.html", context, status=status, fragment=fragment
    )


def _windows(values: list[str]) -> tuple[list[dict[str, int]], str | None]:
    windows: list[dict[str, int]] = []
    for value in dict.fromkeys(values):
        found = re.fullmatch(r"([0-6])-(am|pm)", value)
        if not found:
            return [], _("Choose among the times offered.")
        start, end = HALF_DAYS[found.group(2)]
        windows.append({"weekday": int(found.group(1)), "start_minute": start, "end_minute": end})
    windows.sort(key=lambda w: (w["weekday"], w["start_minute"]))
    return windows, None


def _new_person_errors(values: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    name, phone, email = values["new_name"], values["new_phone"], values["new_email"]
    channel = values["new_channel"]
    if not name:
        errors["new_name"] = _("Enter the person's name.")
    elif len(name) > 120:
        errors["new_name"] = _("At most %(n)d characters, please.") % {"n": 120}
    if phone:
        problem = (
            _phone_problem(phone) if len(phone) <= 30 else _("Enter a phone number like 06 12 34 56 78.")
        )
        if problem:
            errors["new_phone"] = problem
    elif channel in ("sms", "voice", "coordinator"):
        errors["new_phone"] = _("Enter a phone number: it is how the person will be reached.")
    if email:
        if not accounts.looks_like_email(email):
            errors["new_email"] = _("Enter an e-mail address like name@example.fr.")
    elif channel == "email":
        errors["new_email"] = _("Enter an e-mail address, or choose another way to reach the person.")
    if len(values["new_address"]) > 200:
        errors["new_address"] = _("At most %(n)d characters, please.") % {"n": 200}
    if values["new_postcode"] and not POSTCODE.fullmatch(values["new_postcode"]):
        errors["new_postcode"] = _("Enter a postcode of 5 digits, like 60200.")
    if values["new_commune_code"] and not INSEE_CODE.fullmatch(values["new_commune_code"].upper()):
        errors["new_commune_code"] = _("Enter the commune's INSEE code of 5 characters, like 60159.")
    if channel not in CHANNELS:
        errors["new_channel"] = _("Choose how the person would like to be told the news.")
    return errors


class IntakeController(Controller):
    path = INTAKE

    @get("/", guards=[requires("requests.intake")], name="coordination-intake")
    async def form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        # What was typed when the session ran out comes back once the person has signed in again.
        values = await take_draft(request)
        notice = None
        if request.query_params.get("done") == "created":
            notice = _("The request is recorded. The town hall's coordinators take it from here.")
        return await _intake_page(request, db_session, values, notice=notice)

    @get("/personnes", guards=[requires("requests.intake")], name="coordination-intake-people")
    async def people(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        """htmx: the people found for ``q`` (the full page without JavaScript)."""
        await _use_locale(request, db_session)
        return await _intake_page(request, db_session, _query_values(request), fragment="results")

    @get("/champs", guards=[requires("requests.intake")], name="coordination-intake-fields")
    async def fields(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        """htmx: the questions of the chosen service (the full page without JavaScript)."""
        await _use_locale(request, db_session)
        values = _query_values(request)
        values["shown_module"] = _text(values, "module", 40)
        return await _intake_page(request, db_session, values, fragment="module_fields")

    @post("/", guards=[requires("requests.intake")])
    async def record(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        action = _text(data, "action", 20) or "enter"
        values: dict[str, Any] = {**INTAKE_DEFAULTS, **_kept(data)}
        for name, default in INTAKE_DEFAULTS.items():
            if isinstance(default, str):
                values[name] = _text(values, name, 4000)
        times = values["times"] if isinstance(values["times"], list) else [values["times"]]
        values["times"] = [t for t in times if t]
        enabled = {m.slug: m for m in await registry.enabled_modules(db_session)}
        # Enter in the search box searches; Enter after choosing a service shows its questions. The
        # request is recorded only once everything it needs has been seen.
        searching = values["q"] and (
            values["q"] != values["searched"] or not (values["beneficiary"] or values["new_name"])
        )
        if action == "search" or (action == "enter" and searching):
            values["searched"] = values["q"]
            return await _intake_page(request, db_session, values, focus="results")
        if action == "module" or (
            action == "enter" and values["module"] in enabled and values["module"] != values["shown_module"]
        ):
            if values["module"] not in enabled:
                refused = {"module": _("Choose the kind of help needed.")}
                return await _intake_page(
                    request, db_session, values, errors=refused, focus="summary", status=400
                )
            values["shown_module"] = values["module"]
            return await _intake_page(request, db_session, values, focus="module")

        errors: dict[str, str] = {}
        beneficiary: Person | None = None
        new_person = values["beneficiary"] == "new" or (
            not values["beneficiary"] and bool(values["new_name"])
        )
        if new_person:
            errors.update(_new_person_errors(values))
        elif values["beneficiary"]:
            chosen_id = _uuid(values["beneficiary"])
            beneficiary = await db_session.get(Person, chosen_id) if chosen_id else None
            if not _is_beneficiary(beneficiary):
                errors["beneficiary"] = _("Choose the person in the list again, or record a new person.")
        else:
            errors["beneficiary"] = _("Choose the person in the list, or fill in a new person's name.")
        manifest = enabled.get(values["module"])
        details: dict[str, Any] = {}
        if manifest is None:
            errors["module"] = _("Choose the kind of help needed.")
        else:
            values["shown_module"] = manifest.slug
            details, field_errors = manifest.validate(_kept(data))
            errors.update(field_errors)
        windows, times_problem = _windows(values["times"])
        if times_problem:
            errors["times"] = times_problem
        errors.update(form_problems(data, multiline=manifest.textareas if manifest else ()))
        if errors:
            return await _intake_page(request, db_session, values, errors=errors, focus="summary", status=400)
        assert manifest is not None
        actor = await _actor(db_session, identity)
        created_as = "coordinator" if STAFF.intersection(identity.roles) else "partner"
        if new_person:
            channel = values["new_channel"]
            beneficiary = Person(
                id=uuid.uuid4(),
                display_name=values["new_name"],
                email=accounts.normalise_email(values["new_email"]) if values["new_email"] else None,
                phone=values["new_phone"] or None,
                address=values["new_address"] or None,
                postcode=values["new_postcode"] or None,
                commune_code=values["new_commune_code"].upper() or None,
                roles=["beneficiary"],
                channels=[channel],
                locale=await tenant_default_locale(db_session),
            )
            db_session.add(beneficiary)
            await db_session.flush()
            audit.record(
                db_session,
                "beneficiary_recorded",
                actor_id=actor.id,
                subject_type="person",
                subject_id=beneficiary.id,
                details={"created_as": created_as, "channel": channel},
            )
        assert beneficiary is not None
        recurring = manifest.matching.recurring_allowed and values["recurring"] == "on"
        try:
            outcome = await lifecycle.create_request(
                db_session,
                manifest=manifest,
                beneficiary=beneficiary,
                actor=actor,
                created_as=created_as,
                details=details,
                recurring=recurring,
                preferred_windows=windows,
            )
        except LifecycleError as exc:
            await db_session.rollback()
            errors = {exc.field if exc.field != "form" else "form": exc.message}
            return await _intake_page(request, db_session, values, errors=errors, focus="summary", status=400)
        if created_as == "partner":
            # Nobody triages a partner's request right away: it goes to the best-placed volunteers at once.
            await offer_to_best(db_session, outcome.request)
        message_ids = await notify_all(
            db_session, outcome.notify, request_id=outcome.request.id, tenant_name=_tenant(request).name
        )
        request_id = outcome.request.id
        await _commit_and_send(request, db_session, message_ids)
        if allowed(identity.roles, "requests.triage"):
            return Redirect(f"{REQUESTS}/{request_id}?done=created", status_code=303)
        return Redirect(f"{INTAKE}?done=created", status_code=303)


# --- requests ----------------------------------------------------------------------------------


async def _visible_request(
    db_session: AsyncSession, request_id: uuid.UUID, *, lock: bool = False
) -> HelpRequest:
    """The request, if its service is shown for the tenant; else 404 (never another tenant's)."""
    found = await db_session.get(
        HelpRequest, request_id, with_for_update=True if lock else None, populate_existing=True
    )
    if found is None or found.module not in await _visible(db_session):
        raise NotFoundException()
    return found


# The action forms of a request's page, and the errors each shows next to its fields.
SECTION_OF_ERROR = {
    "volunteer": "volunteers",
    "assign": "volunteers",
    "offer": "volunteers",
    "offer_count": "volunteers",
    "schedule": "schedule",
    "date": "schedule",
    "time": "schedule",
    "series": "series",
    "series_weekday": "series",
    "series_time": "series",
    "series_interval": "series",
    "series_from": "series",
    "pause": "pause",
    "resume": "resume",
    "reassign": "reassign",
    "reassign_reason": "reassign",
    "close": "close",
    "cancel": "cancel",
    "cancel_reason": "cancel",
}


def action_forms(help_request: HelpRequest) -> set[str]:
    """The action forms the request's page shows, given where the request stands."""
    status, recurring = help_request.status, help_request.recurring
    forms = set()
    if status in ("open", "offered"):
        forms.add("volunteers")
    if status in ("matched", "scheduled"):
        forms.update({"schedule", "series"} if recurring else {"schedule"})
    if status == "scheduled" and recurring:
        forms.add("pause")
    if status == "paused":
        forms.add("resume")
    if status in ("matched", "scheduled", "paused"):
        forms.add("reassign")
    if status in ("done", "reported"):
        forms.add("close")
    if status in ACTIVE:
        forms.add("cancel")
    return forms


@dataclasses.dataclass(frozen=True)
class ReportLine:
    report: VisitReport
    when: datetime.datetime | None
    author: str
    signs: list[str]


async def _request_page(
    request: Request,
    db_session: AsyncSession,
    request_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
    kind_notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    identity = _identity(request)
    help_request = await _visible_request(db_session, request_id)
    manifest = registry.module(help_request.module)
    assert manifest is not None  # visible means installed
    viewer = await _actor(db_session, identity)
    beneficiary = await db_session.get(Person, help_request.beneficiary_id)
    if beneficiary is None:
        raise NotFoundException()
    contact = await contact_for(db_session, viewer=viewer, request=help_request, beneficiary=beneficiary)
    history = list(
        await db_session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id == help_request.id)
            .order_by(RequestEvent.occurred_at, RequestEvent.id)
        )
    )
    appointments = list(
        await db_session.scalars(
            select(Appointment)
            .where(Appointment.request_id == help_request.id)
            .order_by(Appointment.starts_at, Appointment.id)
        )
    )
    series = list(
        await db_session.scalars(
            select(AppointmentSeries)
            .where(AppointmentSeries.request_id == help_request.id)
            .order_by(AppointmentSeries.created_at)
        )
    )
    report_rows = (
        await db_session.execute(
            select(VisitReport, Appointment.starts_at)
            .join(Appointment, Appointment.id == VisitReport.appointment_id)
            .where(Appointment.request_id == help_request.id)
            .order_by(Appointment.starts_at)
        )
    ).all()
    messages = list(
        await db_session.scalars(
            select(RequestMessage)
            .where(RequestMessage.request_id == help_request.id)
            .order_by(RequestMessage.created_at, RequestMessage.id)
        )
    )
    ranked = (
        await matching.rank(db_session, help_request) if help_request.status in ("open", "offered") else []
    )
    offered = set(
        await db_session.scalars(
            select(RequestOffer.volunteer_id).where(RequestOffer.request_id == help_request.id)
        )
    )
    names = await _names(
        db_session,
        [help_request.volunteer_id, help_request.created_by]
        + [e.actor_id for e in history]
        + [m.author_id for m in messages]
        + [a.volunteer_id for a in appointments]
        + [r.author_id for r, _when in report_rows],
    )
    signs = warning_labels()
    reports = [
        ReportLine(
            report=r,
            when=_local(when),
            author=names.get(r.author_id, "—") if r.author_id else "—",
            signs=[signs.get(s, s) for s in r.warning_signs],
        )
        for r, when in report_rows
    ]
    # Reading the person's contact details is recorded (contact_for); keep that record now.
    await db_session.commit()
    forms = action_forms(help_request)
    # An action refused because the request moved on: its form is gone, so the message goes on top.
    shown_errors: dict[str, str] = {}
    for key, message in (errors or {}).items():
        section = SECTION_OF_ERROR.get(key)
        shown_errors["form" if section is not None and section not in forms else key] = message
    weekdays = weekday_labels()
    context = {
        "help_request": help_request,
        "manifest": manifest,
        "described": manifest.describe(help_request.details),
        "card": f"modules/{manifest.slug}/card.html",
        "beneficiary": beneficiary,
        "contact": contact,
        "channels": [channel_labels().get(c, c) for c in beneficiary.channels],
        "history": history,
        "appointments": appointments,
        "series": series,
        "reports": reports,
        "messages": messages,
        "ranked": ranked,
        "offered": offered,
        "names": names,
        "errors": shown_errors,
        "forms": forms,
        "values": {
            "offer_count": "5",
            "series_interval": "1",
            **(values or {}),
        },
        "notice": notice,
        "kind_notice": kind_notice,
        "status_labels": status_labels(),
        "created_as_labels": created_as_labels(),
        "appointment_labels": appointment_labels(),
        "mood_labels": mood_labels(),
        "weekdays": weekdays,
        "weekday_options": [(str(i), label) for i, label in enumerate(weekdays)],
        "preferred": [
            (weekdays[w["weekday"]] if 0 <= w.get("weekday", -1) <= 6 else "?", w.get("start_minute", 0))
            for w in help_request.preferred_windows
        ],
        "active": help_request.status in ACTIVE,
        "max_offer": MAX_OFFER,
    }
    return await _coordination_page(request, db_session, "coordination/request.html", context, status=status)


class FormProblem(Exception):
    """Errors found in a form before any change (field name → message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


Step = Callable[[AsyncSession, HelpRequest, dict[str, Any], uuid.UUID], Awaitable[Outcome]]


async def _assign(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    volunteer_id = _uuid(_text(form, "volunteer_id", 40))
    volunteer = await db.get(Person, volunteer_id) if volunteer_id else None
    if volunteer is None:
        raise LifecycleError(_("Choose a volunteer in the list."), field="volunteer")
    return await lifecycle.assign(db, req, volunteer, coordinator_id=actor_id)


async def _offer(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    count = _int(_text(form, "offer_count", 6))
    if count is None or not 1 <= count <= MAX_OFFER:
        raise FormProblem(
            {"offer_count": _("Enter a number between %(min)s and %(max)s.") % {"min": 1, "max": MAX_OFFER}}
        )
    ranked = await matching.rank(db, req, limit=count)
    if not ranked:
        raise LifecycleError(_("No volunteer can be offered this request yet."), field="offer_count")
    return await lifecycle.offer(db, req, [r.volunteer_id for r in ranked], actor_id=actor_id)


def _when(form: dict[str, Any], day_field: str, time_field: str) -> tuple[datetime.date, datetime.time]:
    errors: dict[str, str] = {}
    day = parse_day(_text(form, day_field, 20))
    clock = parse_clock(_text(form, time_field, 10))
    if day is None:
        errors[day_field] = _("Enter a date like 14/03/2027.")
    if clock is None:
        errors[time_field] = _("Enter a time like 14:30.")
    if errors:
        raise FormProblem(errors)
    assert day is not None and clock is not None
    return day, clock


async def _schedule(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    day, clock = _when(form, "date", "time")
    return await lifecycle.schedule(db, req, paris_moment(day, clock), actor_id=actor_id)


async def _series(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    errors: dict[str, str] = {}
    weekday = _int(_text(form, "series_weekday", 2))
    if weekday is None or weekday > 6:
        errors["series_weekday"] = _("Choose a day of the week.")
    interval = _int(_text(form, "series_interval", 2))
    if interval is None or not 1 <= interval <= 8:
        errors["series_interval"] = _("Enter a number between %(min)s and %(max)s.") % {"min": 1, "max": 8}
    try:
        day, clock = _when(form, "series_from", "series_time")
    except FormProblem as exc:
        errors.update(exc.errors)
    if errors:
        raise FormProblem(errors)
    assert weekday is not None and interval is not None
    # The first visit may be later today: the series starts on that day, at that time.
    return await lifecycle.schedule_series(
        db,
        req,
        weekday=weekday,
        start_minute=clock.hour * 60 + clock.minute,
        starts_on=day,
        interval_weeks=interval,
        actor_id=actor_id,
    )


def _reason(form: dict[str, Any], name: str) -> str:
    reason = _text(form, name, 300)
    if not reason:
        raise FormProblem({name: _("Please say in a few words why, so that everyone understands.")})
    return reason


async def _reassign(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    reason = _reason(form, "reassign_reason")
    return await lifecycle.release(db, req, action="reassign", actor_id=actor_id, reason=reason)


async def _cancel(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.cancel(db, req, actor_id=actor_id, reason=_text(form, "cancel_reason", 300))


async def _close(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.close(db, req, coordinator_id=actor_id)


async def _pause(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.pause(db, req, actor_id=actor_id)


async def _resume(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    return await lifecycle.resume(db, req, actor_id=actor_id)


async def _message(db: AsyncSession, req: HelpRequest, form: dict[str, Any], actor_id: uuid.UUID) -> Outcome:
    body = _text(form, "body", 4001)
    if not body:
        raise FormProblem({"body": _("Write your message first.")})
    if len(body) > 2000:
        raise FormProblem({"body": _("At most %(n)d characters, please.") % {"n": 2000}})
    db.add(RequestMessage(id=uuid.uuid4(), request_id=req.id, author_id=actor_id, body=body))
    audit.record(db, "request_message", actor_id=actor_id, subject_type="help_request", subject_id=req.id)
    told = [p for p in (req.beneficiary_id, req.volunteer_id) if p is not None and p != actor_id]
    return Outcome(req, notify=[("request_message", p) for p in told])


# path segment → (confirmation key, the step, where each lifecycle field's error is shown)
STEPS: dict[str, tuple[str, Step, dict[str, str]]] = {
    "assigner": ("assign", _assign, {"volunteer": "volunteer"}),
    "proposer": ("offer", _offer, {"offer_count": "offer_count"}),
    "planifier": ("schedule", _schedule, {"starts_at": "date"}),
    "planifier-serie": (
        "series",
        _series,
        {"starts_on": "series_from", "weekday": "series_weekday"},
    ),
    "reattribuer": ("reassign", _reassign, {}),
    "annuler": ("cancel", _cancel, {"reason": "cancel_reason"}),
    "clore": ("close", _close, {}),
    "suspendre": ("pause", _pause, {}),
    "reprendre": ("resume", _resume, {}),
    "messages": ("message", _message, {}),
}


class RequestsController(Controller):
    path = REQUESTS

    @get("/", guards=[requires("requests.triage")], name="coordination-requests")
    async def requests(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        visible = await _visible(db_session)
        modules = [m for m in registry.installed_modules().values() if m.slug in visible]
        status = request.query_params.get("status", "")
        status = status if status in REQUEST_STATUSES else ""
        module = request.query_params.get("module", "")
        module = module if module in visible else ""
        query = (
            select(HelpRequest, Person.display_name)
            .join(Person, Person.id == HelpRequest.beneficiary_id)
            .where(HelpRequest.module.in_(sorted(visible)))
        )
        if status:
            query = query.where(HelpRequest.status == status)
        if module:
            query = query.where(HelpRequest.module == module)
        query = query.order_by(HelpRequest.created_at.desc(), HelpRequest.id.desc())
        rows, pagination = await _paginate(
            db_session, query, _page_number(request), {"status": status, "module": module}
        )
        names = await _names(db_session, [row[0].volunteer_id for row in rows])
        labels = status_labels()
        context = {
            "rows": rows,
            "pagination": pagination,
            "names": names,
            "values": {"status": status, "module": module},
            "status_labels": labels,
            "status_options": list(labels.items()),
            "module_options": [(m.slug, str(m.name)) for m in modules],
            "module_names": {m.slug: str(m.name) for m in modules},
        }
        return await _coordination_page(request, db_session, "coordination/requests.html", context)

    @get("/{request_id:uuid}", guards=[requires("requests.triage")], name="coordination-request")
    async def show(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        await _use_locale(request, db_session)
        notice = done_messages().get(request.query_params.get("done", ""))
        return await _request_page(request, db_session, request_id, notice=notice)

    @post(
        "/{request_id:uuid}/{step:str}",
        guards=[requires("requests.triage")],
        name="coordination-request-action",
    )
    async def act(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        step: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        if step not in STEPS:
            raise NotFoundException()
        key, run, fields = STEPS[step]
        identity = _identity(request)
        # Locked: two coordinators acting on one request at once are served one after the other.
        help_request = await _visible_request(db_session, request_id, lock=True)
        form = _kept(data)
        try:
            if invisible := form_problems(data, multiline=TEXTAREAS):
                raise FormProblem(invisible)
            outcome = await run(db_session, help_request, data, identity.person_id)
        except AlreadyTaken as exc:
            await db_session.rollback()
            return await _request_page(
                request, db_session, request_id, values=form, kind_notice=exc.message, status=409
            )
        except LifecycleError as exc:
            await db_session.rollback()
            errors = {fields.get(exc.field, key): exc.message}
            return await _request_page(
                request, db_session, request_id, errors=errors, values=form, status=400
            )
        except FormProblem as exc:
            await db_session.rollback()
            return await _request_page(
                request, db_session, request_id, errors=exc.errors, values=form, status=400
            )
        message_ids = await notify_all(
            db_session, outcome.notify, request_id=request_id, tenant_name=_tenant(request).name
        )
        await _commit_and_send(request, db_session, message_ids)
        return Redirect(f"{REQUESTS}/{request_id}?done={key}", status_code=303)


# --- tasks and concerns ------------------------------------------------------------------------


async def concern_reported(session: AsyncSession, concern: Concern) -> CoordinatorTask:
    """A concern was just reported (the caller adds it, then calls this in the same transaction): the
    coordinators get a task pointing at it. Calling it again for the same concern changes nothing."""
    await session.flush()
    body = " ".join(concern.body.split())
    return await lifecycle.add_task(
        session,
        "concern",
        person_id=concern.about_person_id,
        request_id=concern.request_id,
        note=body[:297] + "…" if len(body) > 300 else body,
        dedupe_key=f"concern:{concern.id}",
    )


def _task_note(task: CoordinatorTask) -> str:
    note = task.note or ""
    if task.kind == "warning_sign":
        signs = warning_labels()
        if note == "worrying":
            return _("The volunteer found the person worrying.")
        return ", ".join(signs.get(s, s) for s in note.split(",") if s)
    if task.kind == "call_person" and note == "no_show":
        return _("Two visits in a row found nobody at home.")
    if task.kind == "concern":
        return note
    return ""


@dataclasses.dataclass(frozen=True)
class TaskLine:
    task: CoordinatorTask
    title: str
    what_to_do: str
    note: str
    person: str | None
    person_link: str | None
    request_link: str | None


class TasksController(Controller):
    path = "/coordination/taches"

    @get("/", guards=[requires("requests.triage")], name="coordination-tasks")
    async def tasks(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        query = (
            select(CoordinatorTask)
            .where(CoordinatorTask.status == "open")
            .order_by(CoordinatorTask.created_at, CoordinatorTask.id)
        )
        rows, pagination = await _paginate(db_session, query, _page_number(request), {})
        tasks = [row[0] for row in rows]
        names = await _names(db_session, [t.person_id for t in tasks])
        volunteers = set(
            await db_session.scalars(
                select(Person.id).where(
                    Person.id.in_([t.person_id for t in tasks if t.person_id]), _with_role("volunteer")
                )
            )
        )
        visible = await _visible(db_session)
        shown_requests = set(
            await db_session.scalars(
                select(HelpRequest.id).where(
                    HelpRequest.id.in_([t.request_id for t in tasks if t.request_id]),
                    HelpRequest.module.in_(sorted(visible)),
                )
            )
        )
        labels = task_labels()
        lines = []
        for task in tasks:
            title, what_to_do = labels.get(task.kind, (task.kind, ""))
            person_link = None
            if task.person_id is not None:
                person_link = (
                    f"/coordination/benevoles/{task.person_id}"
                    if task.person_id in volunteers
                    else f"/gestion/personnes/{task.person_id}"
                )
            lines.append(
                TaskLine(
                    task=task,
                    title=title,
                    what_to_do=what_to_do,
                    note=_task_note(task),
                    person=names.get(task.person_id) if task.person_id else None,
                    person_link=person_link,
                    request_link=f"{REQUESTS}/{task.request_id}"
                    if task.request_id in shown_requests
                    else None,
                )
            )
        context = {"lines": lines, "pagination": pagination, "done": request.query_params.get("done") == "1"}
        return await _coordination_page(request, db_session, "coordination/tasks.html", context)

    @post("/{task_id:uuid}/fait", guards=[requires("requests.triage")], name="coordination-task-done")
    async def done(
        self, request: Request, db_session: NamedDependency[AsyncSession], task_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        task = await db_session.get(CoordinatorTask, task_id, with_for_update=True)
        if task is None:
            raise NotFoundException()
        if task.status == "open":
            task.status, task.done_by, task.done_at = "done", identity.person_id, accounts.now_utc()
            audit.record(
                db_session,
                "task_done",
                actor_id=identity.person_id,
                subject_type="coordinator_task",
                subject_id=task.id,
                details={"kind": task.kind},
            )
            await db_session.commit()
        return Redirect("/coordination/taches?done=1", status_code=303)


class ConcernsController(Controller):
    path = "/coordination/signalements"

    @get("/", guards=[requires("concerns.handle")], name="coordination-concerns")
    async def concerns(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        query = select(Concern).where(Concern.status == "open").order_by(Concern.created_at, Concern.id)
        rows, pagination = await _paginate(db_session, query, _page_number(request), {})
        concerns = [row[0] for row in rows]
        names = await _names(
            db_session, [c.reporter_id for c in concerns] + [c.about_person_id for c in concerns]
        )
        visible = await _visible(db_session)
        shown_requests = set(
            await db_session.scalars(
                select(HelpRequest.id).where(
                    HelpRequest.id.in_([c.request_id for c in concerns if c.request_id]),
                    HelpRequest.module.in_(sorted(visible)),
                )
            )
        )
        context = {
            "concerns": concerns,
            "pagination": pagination,
            "names": names,
            "shown_requests": shown_requests,
            "may_triage": allowed(_identity(request).roles, "requests.triage"),
            "handled": request.query_params.get("done") == "1",
        }
        return await _coordination_page(request, db_session, "coordination/concerns.html", context)

    @post(
        "/{concern_id:uuid}/traite", guards=[requires("concerns.handle")], name="coordination-concern-handled"
    )
    async def handled(
        self, request: Request, db_session: NamedDependency[AsyncSession], concern_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        concern = await db_session.get(Concern, concern_id, with_for_update=True)
        if concern is None:
            raise NotFoundException()
        if concern.status == "open":
            now = accounts.now_utc()
            concern.status, concern.handled_by, concern.handled_at = "handled", identity.person_id, now
            task = await db_session.scalar(
                select(CoordinatorTask).where(CoordinatorTask.dedupe_key == f"concern:{concern.id}")
            )
            if task is not None and task.status == "open":
                task.status, task.done_by, task.done_at = "done", identity.person_id, now
            audit.record(
                db_session,
                "concern_handled",
                actor_id=identity.person_id,
                subject_type="concern",
                subject_id=concern.id,
            )
            await db_session.commit()
        return Redirect("/coordination/signalements?done=1", status_code=303)


# --- volunteers' vetting -----------------------------------------------------------------------


def offered_skills() -> list[tuple[str, str]]:
    """Every skill named by the installed modules' matching hints, with a label."""
    labels = skill_labels()
    slugs = sorted({s for m in registry.installed_modules().values() for s in m.matching.skills})
    return [(s, labels.get(s, s.replace("_", " ").capitalize())) for s in slugs]


async def _volunteer(db_session: AsyncSession, person_id: uuid.UUID, *, lock: bool = False) -> Person:
    person = await db_session.get(Person, person_id, with_for_update=True if lock else None)
    if person is None or "volunteer" not in person.roles:
        raise NotFoundException()
    return person


async def _volunteer_page(
    request: Request,
    db_session: AsyncSession,
    volunteer: Person,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    languages = language_labels()
    context = {
        "volunteer": volunteer,
        "values": values,
        "errors": errors,
        "notice": notice,
        "level_options": [(str(level), label) for level, label in vetting_labels().items()],
        "skill_options": offered_skills(),
        "language_options": [(code, languages[code]) for code in LANGUAGES],
        "vetting_labels": vetting_labels(),
        "today": datetime.date.today(),
    }
    return await _coordination_page(
        request, db_session, "coordination/volunteer.html", context, status=status
    )


class VolunteersController(Controller):
    path = "/coordination/benevoles"

    @get("/", guards=[requires("people.vet")], name="coordination-volunteers")
    async def volunteers(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        search = _text(request.query_params, "q", 100)
        query = select(Person).where(_with_role("volunteer"))
        if search:
            query = query.where(Person.display_name.ilike(f"%{escape_like(search)}%", escape="\\"))
        query = query.order_by(func.lower(Person.display_name), Person.id)
        rows, pagination = await _paginate(db_session, query, _page_number(request), {"q": search})
        skills = dict(offered_skills())
        context = {
            "people": [row[0] for row in rows],
            "pagination": pagination,
            "values": {"q": search},
            "vetting_labels": vetting_labels(),
            "skill_labels": skills,
            "today": datetime.date.today(),
        }
        return await _coordination_page(request, db_session, "coordination/volunteers.html", context)

    @get("/{person_id:uuid}", guards=[requires("people.vet")], name="coordination-volunteer")
    async def volunteer(
        self, request: Request, db_session: NamedDependency[AsyncSession], person_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        await _use_locale(request, db_session)
        person = await _volunteer(db_session, person_id)
        values = {
            "level": str(person.vetting_level),
            "until": person.vetted_until.strftime("%d/%m/%Y") if person.vetted_until else "",
            "skills": list(person.skills),
            "languages": list(person.languages),
        }
        notice = None
        if request.query_params.get("saved") == "1":
            alerts = _int(request.query_params.get("alerts", "0")) or 0
            notice = _("The vetting is saved.")
            if alerts:
                notice += " " + _(
                    "The volunteer no longer has the vetting some of their requests need: the coordinators have a task for each."
                )
        return await _volunteer_page(request, db_session, person, values=values, errors={}, notice=notice)

    @post("/{person_id:uuid}", guards=[requires("people.vet")])
    async def save(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        person = await _volunteer(db_session, person_id, lock=True)
        today = datetime.date.today()
        level_text, until_text = _text(data, "level", 2), _text(data, "until", 20)
        values: dict[str, Any] = {
            "level": level_text,
            "until": until_text,
            "skills": _values(data, "skills"),
            "languages": _values(data, "languages"),
        }
        errors: dict[str, str] = {}
        level = _int(level_text)
        if level is None or level not in vetting_labels():
            errors["level"] = _("Choose a vetting level.")
        until = None
        if until_text:
            until = parse_day(until_text)
            if until is None:
                errors["until"] = _("Enter a date like 14/03/2027.")
            elif until < today:
                errors["until"] = _("This date is already past: a vetting that has ended counts as none.")
        skills_offered = dict(offered_skills())
        if any(s not in skills_offered for s in values["skills"]):
            errors["skills"] = _("Choose among the options offered.")
        if any(code not in LANGUAGES for code in values["languages"]):
            errors["languages"] = _("Choose among the options offered.")
        errors.update(form_problems(data))
        if errors:
            return await _volunteer_page(
                request, db_session, person, values=values, errors=errors, status=400
            )
        assert level is not None
        before_level, before_until, before_effective = (
            person.vetting_level,
            person.vetted_until,
            person.vetting_on(today),
        )
        # Skills and languages the form does not offer (a module since removed) are kept.
        kept_skills = [s for s in person.skills if s not in skills_offered]
        kept_languages = [code for code in person.languages if code not in LANGUAGES]
        person.vetting_level = level
        person.vetted_until = until if level > 0 else None
        person.skills = kept_skills + [s for s in skills_offered if s in values["skills"]]
        person.languages = [code for code in LANGUAGES if code in values["languages"]] + kept_languages
        audit.record(
            db_session,
            "vetting_changed",
            actor_id=identity.person_id,
            subject_type="person",
            subject_id=person.id,
            details={
                "before": {
                    "level": before_level,
                    "until": before_until.isoformat() if before_until else None,
                },
                "after": {
                    "level": person.vetting_level,
                    "until": person.vetted_until.isoformat() if person.vetted_until else None,
                },
                "skills": person.skills,
                "languages": person.languages,
            },
        )
        tasks = []
        if person.vetting_on(today) < before_effective:
            tasks = await lifecycle.vetting_changed(db_session, person, today=today)
        await db_session.commit()
        return Redirect(f"/coordination/benevoles/{person.id}?saved=1&alerts={len(tasks)}", status_code=303)


# --- events ------------------------------------------------------------------------------------

EVENT_DEFAULTS = {
    "title": "",
    "description": "",
    "place": "",
    "date": "",
    "start_time": "",
    "end_date": "",
    "end_time": "",
    "capacity": "",
}


async def _events_page(
    request: Request,
    db_session: AsyncSession,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    query = (
        select(Event)
        .where(Event.cancelled_at.is_(None), Event.ends_at >= accounts.now_utc())
        .order_by(Event.starts_at, Event.id)
    )
    rows, pagination = await _paginate(db_session, query, _page_number(request), {})
    upcoming = [row[0] for row in rows]
    context = {
        "values": {**EVENT_DEFAULTS, **values},
        "errors": errors,
        "notice": notice,
        "upcoming": upcoming,
        "counts": await event_service.counts(db_session, [e.id for e in upcoming]),
        "pagination": pagination,
    }
    return await _coordination_page(request, db_session, "coordination/events.html", context, status=status)


class EventsController(Controller):
    path = "/coordination/evenements"

    @get("/{event_id:uuid}", guards=[requires("events.manage")], name="coordination-event")
    async def registrants(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        """Who is registered and who waits, in order: what the organiser needs on the day."""
        await _use_locale(request, db_session)
        event = await db_session.get(Event, event_id)
        if event is None:
            raise NotFoundException()
        rows = (
            await db_session.execute(
                select(EventRegistration.status, Person.display_name, Person.phone)
                .join(Person, Person.id == EventRegistration.person_id)
                .where(EventRegistration.event_id == event.id, EventRegistration.status != "cancelled")
                .order_by(EventRegistration.created_at, EventRegistration.id)
            )
        ).all()
        # Names and phone numbers of people helped: the reading is recorded.
        audit.record(
            db_session,
            "event_registrants_read",
            actor_id=_identity(request).person_id,
            subject_type="event",
            subject_id=event.id,
        )
        context = {
            "event": event,
            "registered": [(name, phone) for status, name, phone in rows if status == "registered"],
            "waiting": [(name, phone) for status, name, phone in rows if status == "waiting"],
        }
        return await _coordination_page(request, db_session, "coordination/event.html", context)

    @get("/", guards=[requires("events.manage")], name="coordination-events")
    async def events(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        done = request.query_params.get("done", "")
        notice = {
            "created": _("The event is created: residents can now register."),
            "cancelled": _("The event is cancelled. Everyone registered or waiting is told."),
        }.get(done)
        return await _events_page(request, db_session, values={}, errors={}, notice=notice)

    @post("/", guards=[requires("events.manage")])
    async def create(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        values = {name: _text(data, name, 4001) for name in EVENT_DEFAULTS}
        errors: dict[str, str] = {}
        if not values["title"]:
            errors["title"] = _("Give the event a title.")
        elif len(values["title"]) > 160:
            errors["title"] = _("At most %(n)d characters, please.") % {"n": 160}
        if len(values["description"]) > 4000:
            errors["description"] = _("At most %(n)d characters, please.") % {"n": 4000}
        if not values["place"]:
            errors["place"] = _("Say where the event takes place.")
        elif len(values["place"]) > 200:
            errors["place"] = _("At most %(n)d characters, please.") % {"n": 200}
        day = parse_day(values["date"])
        if day is None:
            errors["date"] = _("Enter a date like 14/03/2027.")
        start = parse_clock(values["start_time"])
        if start is None:
            errors["start_time"] = _("Enter a time like 14:30.")
        end_day = parse_day(values["end_date"]) if values["end_date"] else day
        if values["end_date"] and end_day is None:
            errors["end_date"] = _("Enter a date like 14/03/2027.")
        end = parse_clock(values["end_time"])
        if end is None:
            errors["end_time"] = _("Enter a time like 14:30.")
        capacity = _int(values["capacity"])
        if capacity is None or not 1 <= capacity <= 10_000:
            errors["capacity"] = _("Enter a number between %(min)s and %(max)s.") % {"min": 1, "max": 10_000}
        starts_at = ends_at = None
        if day is not None and start is not None:
            starts_at = paris_moment(day, start)
            if starts_at <= accounts.now_utc():
                errors["date"] = _("This date is in the past. Choose a date and time to come.")
            if end_day is not None and end is not None:
                ends_at = paris_moment(end_day, end)
                if ends_at <= starts_at:
                    errors["end_time"] = _("The event must end after it starts.")
        errors.update(form_problems(data, multiline=TEXTAREAS))
        if errors:
            return await _events_page(request, db_session, values=values, errors=errors, status=400)
        assert starts_at is not None and ends_at is not None and capacity is not None
        event = Event(
            id=uuid.uuid4(),
            title=values["title"],
            description=values["description"],
            place=values["place"],
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity,
            organiser_id=identity.person_id,
        )
        db_session.add(event)
        audit.record(
            db_session,
            "event_created",
            actor_id=identity.person_id,
            subject_type="event",
            subject_id=event.id,
            details={"capacity": capacity},
        )
        await db_session.commit()
        return Redirect("/coordination/evenements?done=created", status_code=303)

    @post("/{event_id:uuid}/annuler", guards=[requires("events.manage")], name="coordination-event-cancel")
    async def cancel(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        event = await event_service.lock_event(db_session, event_id)
        if event is None:
            raise NotFoundException()
        message_ids: list[uuid.UUID] = []
        if event.cancelled_at is None:
            event.cancelled_at = accounts.now_utc()
            told = list(
                await db_session.scalars(
                    select(EventRegistration.person_id).where(
                        EventRegistration.event_id == event.id,
                        EventRegistration.status.in_(event_service.LIVE),
                    )
                )
            )
            message_ids = await notify_all(
                db_session, [("event_cancelled", p) for p in told], tenant_name=_tenant(request).name
            )
            audit.record(
                db_session,
                "event_cancelled",
                actor_id=identity.person_id,
                subject_type="event",
                subject_id=event.id,
                details={"told": len(told)},
            )
        await _commit_and_send(request, db_session, message_ids)
        return Redirect("/coordination/evenements?done=cancelled", status_code=303)


# --- service modules ---------------------------------------------------------------------------


async def _modules_page(
    request: Request,
    db_session: AsyncSession,
    *,
    chosen: list[str],
    errors: dict[str, str],
    saved: bool = False,
    status: int = 200,
) -> Response[str]:
    context = {
        "modules": list(registry.installed_modules().values()),
        "chosen": chosen,
        "errors": errors,
        "saved": saved,
    }
    return await _coordination_page(request, db_session, "coordination/modules.html", context, status=status)


class ModulesController(Controller):
    path = "/coordination/modules"

    @get("/", guards=[requires("modules.configure")], name="coordination-modules")
    async def modules(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        chosen = await registry.enabled_slugs(db_session)
        return await _modules_page(
            request, db_session, chosen=chosen, errors={}, saved=request.query_params.get("saved") == "1"
        )

    @post("/", guards=[requires("modules.configure")])
    async def save(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        chosen = _values(data, "modules")
        if invisible := form_problems(data):
            return await _modules_page(request, db_session, chosen=chosen, errors=invisible, status=400)
        before = await registry.enabled_slugs(db_session)
        try:
            after = await registry.set_enabled(db_session, chosen)
        except ValueError:
            await db_session.rollback()
            errors = {"modules": _("Choose among the services offered.")}
            return await _modules_page(request, db_session, chosen=chosen, errors=errors, status=400)
        audit.record(
            db_session,
            "modules_changed",
            actor_id=identity.person_id,
            details={"before": before, "after": after},
        )
        await db_session.commit()
        return Redirect("/coordination/modules?saved=1", status_code=303)


COORDINATION_CONTROLLERS = [
    IntakeController,
    RequestsController,
    TasksController,
    ConcernsController,
    VolunteersController,
    EventsController,
    ModulesController,
]
