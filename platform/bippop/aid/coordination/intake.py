"""``/coordination/appel``: a request heard on the phone, recorded in one keyboard-only page (an existing
person found by name or phone, or a new one; the service and its questions; preferred times). Enter
searches, shows the service's questions, or records, depending on what changed; the recording itself
is ``aid.services.requests.ask_for_help``, the same as a resident's own request."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import services as accounts
from bippop.accounts.models import Person
from bippop.accounts.permissions import STAFF, allowed, requires
from bippop.accounts.services.people import with_role
from bippop.aid.coordination.common import (
    INTAKE,
    REQUESTS,
    actor_of,
    coordination_page,
    enabled_modules,
    field_text,
    identity_of,
    kept_values,
    query_values,
    scrub,
)
from bippop.aid.coordination.labels import channel_labels, weekday_labels
from bippop.aid.services.requests import NewBeneficiary, ask_for_help
from bippop.modules.contract import ModuleManifest
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.deps import PAGE_DEPENDENCIES, tenant_of
from bippop.web.drafts import take_draft
from bippop.web.forms import FormData, form_problems, parse_uuid
from bippop.web.i18n import _
from bippop.web.listing import escape_like

CHANNELS = ("email", "sms", "voice", "coordinator")
HALF_DAYS = {"am": (9 * 60, 12 * 60), "pm": (14 * 60, 18 * 60)}
SEARCH_LIMIT = 10
INSEE_CODE = re.compile(r"^(?:\d{2}|2[AB])\d{3}$")
POSTCODE = re.compile(r"^\d{5}$")


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
        .where(with_role("beneficiary"), Person.disabled_at.is_(None), or_(*conditions))
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
    values = {**INTAKE_DEFAULTS, **{k: scrub(v) for k, v in values.items() if isinstance(k, str)}}
    if not isinstance(values["times"], list):
        values["times"] = [values["times"]] if values["times"] else []
    for name, default in INTAKE_DEFAULTS.items():
        if isinstance(default, str) and isinstance(values[name], list):
            values[name] = values[name][0] if values[name] else ""
    modules = await enabled_modules(request)
    manifest = next((m for m in modules if m.slug == values["module"]), None)
    results = await search_beneficiaries(db_session, values["q"])
    chosen = None
    chosen_id = parse_uuid(values["beneficiary"]) if values["beneficiary"] != "new" else None
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
    return await coordination_page(
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


def _typed_values(data: FormData) -> dict[str, Any]:
    """The intake form as typed: one bounded text per field, the chosen times as a list."""
    values: dict[str, Any] = {**INTAKE_DEFAULTS, **kept_values(data)}
    for name, default in INTAKE_DEFAULTS.items():
        if isinstance(default, str):
            values[name] = field_text(values, name, 4000)
    times = values["times"] if isinstance(values["times"], list) else [values["times"]]
    values["times"] = [t for t in times if t]
    return values


def _next_view(
    action: str, values: dict[str, Any], enabled: dict[str, ModuleManifest]
) -> tuple[str, dict[str, str]] | None:
    """Enter in the search box searches; Enter after choosing a service shows its questions: the page
    to show instead of recording (focus, errors), or None once everything the request needs was seen."""
    searching = values["q"] and (
        values["q"] != values["searched"] or not (values["beneficiary"] or values["new_name"])
    )
    if action == "search" or (action == "enter" and searching):
        values["searched"] = values["q"]
        return "results", {}
    if action == "module" or (
        action == "enter" and values["module"] in enabled and values["module"] != values["shown_module"]
    ):
        if values["module"] not in enabled:
            return "summary", {"module": _("Choose the kind of help needed.")}
        values["shown_module"] = values["module"]
        return "module", {}
    return None


@dataclasses.dataclass
class IntakeForm:
    """What the intake form asks to record, or the errors to show next to its fields."""

    errors: dict[str, str]
    manifest: ModuleManifest | None = None
    beneficiary: Person | NewBeneficiary | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    windows: list[dict[str, int]] = dataclasses.field(default_factory=list)


async def _who(
    db_session: AsyncSession, values: dict[str, Any], errors: dict[str, str]
) -> Person | NewBeneficiary | None:
    """The person helped: one chosen in the list, or a new one typed in (their errors into ``errors``)."""
    if values["beneficiary"] == "new" or (not values["beneficiary"] and values["new_name"]):
        errors.update(_new_person_errors(values))
        return NewBeneficiary(
            name=values["new_name"],
            channel=values["new_channel"],
            phone=values["new_phone"],
            email=values["new_email"],
            address=values["new_address"],
            postcode=values["new_postcode"],
            commune_code=values["new_commune_code"],
        )
    if not values["beneficiary"]:
        errors["beneficiary"] = _("Choose the person in the list, or fill in a new person's name.")
        return None
    chosen_id = parse_uuid(values["beneficiary"])
    person = await db_session.get(Person, chosen_id) if chosen_id else None
    if not _is_beneficiary(person):
        errors["beneficiary"] = _("Choose the person in the list again, or record a new person.")
        return None
    return person


async def _read_form(
    db_session: AsyncSession, data: FormData, values: dict[str, Any], enabled: dict[str, ModuleManifest]
) -> IntakeForm:
    errors: dict[str, str] = {}
    beneficiary = await _who(db_session, values, errors)
    manifest = enabled.get(values["module"])
    details: dict[str, Any] = {}
    if manifest is None:
        errors["module"] = _("Choose the kind of help needed.")
    else:
        values["shown_module"] = manifest.slug
        details, field_errors = manifest.validate(kept_values(data))
        errors.update(field_errors)
    windows, times_problem = _windows(values["times"])
    if times_problem:
        errors["times"] = times_problem
    errors.update(form_problems(data, multiline=manifest.textareas if manifest else ()))
    return IntakeForm(errors, manifest, beneficiary, details, windows)


class IntakeController(Controller):
    path = INTAKE
    dependencies = PAGE_DEPENDENCIES

    @get("/", guards=[requires("requests.intake")], name="coordination-intake")
    async def form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        # What was typed when the session ran out comes back once the person has signed in again.
        values = await take_draft(request)
        notice = None
        if request.query_params.get("done") == "created":
            notice = _("The request is recorded. The town hall's coordinators take it from here.")
        return await _intake_page(request, db_session, values, notice=notice)

    @get("/personnes", guards=[requires("requests.intake")], name="coordination-intake-people")
    async def people(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        """htmx: the people found for ``q`` (the full page without JavaScript)."""
        return await _intake_page(request, db_session, query_values(request), fragment="results")

    @get("/champs", guards=[requires("requests.intake")], name="coordination-intake-fields")
    async def fields(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        """htmx: the questions of the chosen service (the full page without JavaScript)."""
        values = query_values(request)
        values["shown_module"] = field_text(values, "module", 40)
        return await _intake_page(request, db_session, values, fragment="module_fields")

    @post("/", guards=[requires("requests.intake")])
    async def record(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        identity = identity_of(request)
        values = _typed_values(data)
        enabled = {m.slug: m for m in await enabled_modules(request)}
        if shown := _next_view(field_text(data, "action", 20) or "enter", values, enabled):
            focus, refused = shown
            status = 400 if refused else 200
            return await _intake_page(request, db_session, values, errors=refused, focus=focus, status=status)
        form = await _read_form(db_session, data, values, enabled)
        if form.errors:
            return await _intake_page(
                request, db_session, values, errors=form.errors, focus="summary", status=400
            )
        assert form.manifest is not None and form.beneficiary is not None
        asked = await ask_for_help(
            db_session,
            manifest=form.manifest,
            beneficiary=form.beneficiary,
            actor=await actor_of(db_session, identity),
            created_as="coordinator" if STAFF.intersection(identity.roles) else "partner",
            details=form.details,
            recurring=form.manifest.matching.recurring_allowed and values["recurring"] == "on",
            preferred_windows=form.windows,
            tenant_name=tenant_of(request).name,
        )
        if asked.request is None:
            return await _intake_page(
                request, db_session, values, errors=asked.errors, focus="summary", status=400
            )
        request_id = asked.request.id
        await commit_and_announce(request, db_session, asked.message_ids)
        if allowed(identity.roles, "requests.triage"):
            return Redirect(f"{REQUESTS}/{request_id}?done=created", status_code=303)
        return Redirect(f"{INTAKE}?done=created", status_code=303)
