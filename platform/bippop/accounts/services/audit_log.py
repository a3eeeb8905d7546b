"""Browsing the audit log: the filters a staff member typed, checked; one page of events, newest first,
with a cursor to the older ones; each line readable (who, what, about whom); and the browsing itself
recorded."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts.auth import Identity
from bippop.accounts.models import AccountToken, AuditEvent
from bippop.accounts.services.links import person_by_email
from bippop.accounts.services.people import display_names
from bippop.web.forms import form_problems, parse_uuid, search_text
from bippop.web.i18n import _, role_label
from bippop.web.listing import PAGE_SIZE
from bippop.web.local_time import LOCAL_TIME

FILTERS = ("action", "person", "from", "to")


def consent_labels() -> dict[str, str]:
    return {
        "written": _("Written consent"),
        "oral": _("Oral consent"),
        "legal_protection": _("Legal protection measure (guardianship, curatorship…)"),
    }


# Labels of the service modules' own actions (``modules.assembly.prepare``): anything whose ``str()`` is the
# label in the current language.
MODULE_ACTION_LABELS: dict[str, object] = {}


def use_module_action_labels(labels: Mapping[str, object]) -> None:
    MODULE_ACTION_LABELS.clear()
    MODULE_ACTION_LABELS.update(labels)


def action_labels() -> dict[str, str]:
    """What each audit action means, for people browsing the log (English msgids, translated)."""
    return {**{action: str(label) for action, label in MODULE_ACTION_LABELS.items()}, **core_action_labels()}


def core_action_labels() -> dict[str, str]:
    return {
        "sign_in": _("Signed in"),
        "billing_details_changed": _("Billing details changed"),
        "sign_in_failed": _("Sign-in refused"),
        "sign_out": _("Signed out"),
        "sign_out_everywhere": _("Signed out on all devices"),
        "account_created": _("Account created"),
        "email_verified": _("E-mail address confirmed"),
        "password_reset": _("Password changed with a reset link"),
        "mfa_enabled": _("Two-step sign-in turned on"),
        "mfa_recovery_codes_replaced": _("New recovery codes made"),
        "invitation_sent": _("Invitation sent"),
        "invitation_accepted": _("Invitation accepted"),
        "role_changed": _("Roles changed"),
        "mandate_recorded": _("Mandate recorded"),
        "mandate_revoked": _("Mandate revoked"),
        "audit_viewed": _("Audit log consulted"),
        "tenant.exported": _("All the service's data exported"),
        "sso_linked": _("FranceConnect or ProConnect identity linked"),
        "preferences_changed": _("How to give news changed"),
        "task_done": _("Task done"),
        "concern_handled": _("Concern handled"),
        "modules_changed": _("Services switched on or off"),
        "legal_pages_changed": _("Legal pages changed"),
        "portal_published": _("Portal published"),
        "portal_unpublished": _("Portal unpublished"),
        "module_settings_changed": _("Settings of a service changed"),
        "module_export": _("Table of a service exported"),
        "beneficiary_record_read": _("A person helped's record read"),
        "beneficiary_contact_read": _("A person helped's phone and address read"),
        "beneficiary_recorded": _("Person helped recorded"),
        "vetting_changed": _("Volunteer vetting changed"),
        "request_created": _("Request recorded"),
        "request_offer": _("Request offered to volunteers"),
        "request_pop": _("A volunteer answered a request"),
        "request_assign": _("Volunteer assigned to a request"),
        "request_schedule": _("Appointment set"),
        "request_complete": _("Help given"),
        "request_report": _("Visit reported"),
        "visit_reported": _("Visit reported"),
        "request_feedback": _("Opinion given"),
        "request_close": _("Request closed"),
        "request_cancel": _("Request cancelled"),
        "request_withdraw": _("Volunteer stepped back"),
        "request_reassign": _("Volunteer taken off a request"),
        "request_vetting_lost": _("Volunteer no longer vetted for a request"),
        "request_pause": _("Regular visits paused"),
        "request_resume": _("Regular visits resumed"),
        "appointment_done": _("Appointment done"),
        "appointment_no_show": _("Nobody at home"),
        "request_message": _("Message about a request"),
        "appearance_changed": _("Portal appearance changed"),
        "logo_uploaded": _("Logo uploaded"),
        "logo_removed": _("Logo removed"),
        "domain_added": _("Custom domain added"),
        "domain_verified": _("Custom domain verified"),
        "domain_primary_set": _("Main address of the portal changed"),
        "domain_removed": _("Custom domain removed"),
    }


def _parse_day(value: str) -> datetime.date | None:
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2200 else None  # the edges of the calendar overflow in time zones


def _day_start(day: datetime.date) -> datetime.datetime:
    """Midnight of ``day`` in Paris, as an aware datetime (DST handled by zoneinfo)."""
    return datetime.datetime.combine(day, datetime.time(), tzinfo=LOCAL_TIME)


def _cursor(value: str) -> tuple[datetime.datetime, uuid.UUID] | None:
    """``before=<ISO time>~<event id>``: the last event of the previous page."""
    moment, _sep, event_id = value.partition("~")
    parsed_id = parse_uuid(event_id)
    try:
        parsed = datetime.datetime.fromisoformat(moment)
    except ValueError:
        return None
    if parsed_id is None or parsed.tzinfo is None:
        return None
    return parsed, parsed_id


@dataclasses.dataclass(frozen=True)
class LogLine:
    event: AuditEvent
    when: datetime.datetime
    who: str
    what: str
    more: str
    subject: str


@dataclasses.dataclass
class LogPage:
    values: dict[str, str]
    errors: dict[str, str]
    lines: list[LogLine]
    older: str | None
    newest: str | None
    actions: list[tuple[str, str]]


async def browse_log(db_session: AsyncSession, reader: Identity, params: Mapping[str, str]) -> LogPage:
    """One page of the log as filtered by ``params`` (``action``, ``person``, ``from``, ``to``, the
    ``before`` cursor); the reading is recorded in the log itself."""
    labels = action_labels()
    sent = {key: params.get(key, "") for key in FILTERS}
    # Looked up without the characters nobody types; the field still says it held one (below).
    values = {key: search_text(text, 254) for key, text in sent.items()}
    query, errors, actor_id = await _filtered(db_session, values, labels)
    errors.update(form_problems(sent))
    cursor = _cursor(params.get("before", ""))
    if cursor is not None:
        query = query.where(tuple_(AuditEvent.occurred_at, AuditEvent.id) < tuple_(*cursor))
    filters = {k: v for k, v in values.items() if v}
    lines: list[LogLine] = []
    older: str | None = None
    if not errors:
        events = list(
            await db_session.scalars(
                query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(PAGE_SIZE + 1)
            )
        )
        if len(events) > PAGE_SIZE:
            events = events[:PAGE_SIZE]
            last = events[-1]
            older = "?" + urlencode({**filters, "before": f"{last.occurred_at.isoformat()}~{last.id}"})
        lines = await _log_lines(db_session, events, labels)
        audit.record(
            db_session,
            "audit_viewed",
            actor_id=reader.person_id,
            details={
                "action": values["action"] or None,
                "actor_id": str(actor_id) if actor_id else None,
                "from": values["from"] or None,
                "to": values["to"] or None,
                "older": cursor is not None,
            },
        )
    return LogPage(
        values=values,
        errors=errors,
        lines=lines,
        older=older,
        newest=("?" + urlencode(filters)) if cursor is not None else None,
        actions=sorted(labels.items(), key=lambda item: item[1].lower()),
    )


async def _filtered(
    db_session: AsyncSession, values: dict[str, str], labels: dict[str, str]
) -> tuple[Any, dict[str, str], uuid.UUID | None]:
    """The query of the events the filters select, the filters' errors, and the chosen person's id."""
    errors: dict[str, str] = {}
    query = select(AuditEvent)
    if values["action"]:
        if values["action"] not in labels:
            errors["action"] = _("Choose an action from the list.")
        query = query.where(AuditEvent.action == values["action"])
    actor_id: uuid.UUID | None = None
    if values["person"]:
        actor = await person_by_email(db_session, values["person"])
        if actor is None:
            errors["person"] = _("Nobody in this service has this e-mail address.")
        else:
            actor_id = actor.id
            query = query.where(AuditEvent.actor_id == actor.id)
    since = until = None
    if values["from"]:
        day = _parse_day(values["from"])
        if day is None:
            errors["from"] = _("Enter a date like 2025-03-31.")
        else:
            since = _day_start(day)
            query = query.where(AuditEvent.occurred_at >= since)
    if values["to"]:
        day = _parse_day(values["to"])
        if day is None:
            errors["to"] = _("Enter a date like 2025-03-31.")
        else:
            until = _day_start(day + datetime.timedelta(days=1))
            query = query.where(AuditEvent.occurred_at < until)
    if since is not None and until is not None and until <= since:
        errors["to"] = _("The end date must be the same as the start date or after it.")
    return query, errors, actor_id


async def _log_lines(
    db_session: AsyncSession, events: Sequence[AuditEvent], labels: dict[str, str]
) -> list[LogLine]:
    person_ids = [e.actor_id for e in events] + [e.subject_id for e in events if e.subject_type == "person"]
    names = await display_names(db_session, person_ids)
    invitation_ids = {e.subject_id for e in events if e.subject_type == "invitation" and e.subject_id}
    invited: dict[uuid.UUID, str] = {}
    if invitation_ids:
        rows = await db_session.execute(
            select(AccountToken.id, AccountToken.email).where(AccountToken.id.in_(invitation_ids))
        )
        invited = {row.id: row.email or "" for row in rows}
    consents = consent_labels()
    lines = []
    for event in events:
        if event.actor_id is None:
            who = _("The system") if event.action != "sign_in_failed" else _("Unknown")
        else:
            who = names.get(event.actor_id, _("Deleted person"))
        subject = ""
        if event.subject_type == "person" and event.subject_id:
            subject = names.get(event.subject_id, _("Deleted person"))
        elif event.subject_type == "invitation" and event.subject_id:
            subject = invited.get(event.subject_id, "")
        elif event.subject_type == "mandate" and event.subject_id:
            subject = _("Mandate %(id)s") % {"id": str(event.subject_id)[:8]}
        elif event.subject_id:
            subject = f"{event.subject_type or ''} {str(event.subject_id)[:8]}".strip()
        lines.append(
            LogLine(
                event=event,
                when=event.occurred_at.astimezone(LOCAL_TIME),
                who=who,
                what=labels.get(event.action, event.action),
                more=_details(event, consents),
                subject=subject,
            )
        )
    return lines


def _details(event: AuditEvent, consents: dict[str, str]) -> str:
    """A short, readable summary of an event's details (role names and labels only)."""
    details = event.details or {}
    if event.action == "role_changed":
        before = ", ".join(role_label(r) for r in details.get("before", [])) or "—"
        after = ", ".join(role_label(r) for r in details.get("after", [])) or "—"
        return f"{before} → {after}"
    if event.action in ("invitation_sent", "invitation_accepted", "account_created"):
        return ", ".join(role_label(r) for r in details.get("roles", []))
    if event.action == "mandate_recorded":
        return consents.get(details.get("consent", ""), "")
    return ""
