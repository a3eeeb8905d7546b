"""``/coordination/demandes``: every request of the services shown for the tenant, and one request's page
(details, the person's contact — each reading recorded —, history, appointments, reports, messages,
ranked volunteers) with its actions (``steps``), each calling ``aid.lifecycle``."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.accounts.services.people import display_names
from bippop.aid import matching
from bippop.aid.contact import contact_for
from bippop.aid.coordination.common import (
    REQUESTS,
    TEXTAREAS,
    actor_of,
    coordination_page,
    identity_of,
    kept_values,
    visible_modules,
)
from bippop.aid.coordination.labels import (
    appointment_labels,
    cancel_reason_labels,
    channel_labels,
    created_as_labels,
    done_messages,
    history_note,
    mood_labels,
    status_labels,
    warning_labels,
    weekday_labels,
)
from bippop.aid.coordination.lists import request_list
from bippop.aid.coordination.steps import MAX_OFFER, STEPS, FormProblem
from bippop.aid.lifecycle import ACTIVE, AlreadyTaken, LifecycleError
from bippop.aid.models import (
    REQUEST_STATUSES,
    Appointment,
    AppointmentSeries,
    HelpRequest,
    RequestEvent,
    RequestMessage,
    RequestOffer,
    VisitReport,
)
from bippop.aid.services.requests import announce_outcome
from bippop.modules import registry
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.deps import PAGE_DEPENDENCIES, tenant_of
from bippop.web.forms import FormData, form_problems
from bippop.web.listing import page_number, paginate
from bippop.web.local_time import local_time


async def visible_request(
    db_session: AsyncSession, request_id: uuid.UUID, *, lock: bool = False
) -> HelpRequest:
    """The request, if its service is shown for the tenant; else 404 (never another tenant's). A guard on
    read-by-id: the switch is read from the tenant's table, not from the pages' cached copy."""
    found = await db_session.get(
        HelpRequest, request_id, with_for_update=True if lock else None, populate_existing=True
    )
    if found is None or found.module not in registry.visible_modules(
        await registry.enabled_slugs(db_session)
    ):
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


async def _timeline(db_session: AsyncSession, where: uuid.UUID) -> dict[str, Any]:
    """The request's history, appointments, series, reports (with their visit's time) and messages."""
    history = list(
        await db_session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id == where)
            .order_by(RequestEvent.occurred_at, RequestEvent.id)
        )
    )
    appointments = list(
        await db_session.scalars(
            select(Appointment)
            .where(Appointment.request_id == where)
            .order_by(Appointment.starts_at, Appointment.id)
        )
    )
    series = list(
        await db_session.scalars(
            select(AppointmentSeries)
            .where(AppointmentSeries.request_id == where)
            .order_by(AppointmentSeries.created_at)
        )
    )
    report_rows = (
        await db_session.execute(
            select(VisitReport, Appointment.starts_at)
            .join(Appointment, Appointment.id == VisitReport.appointment_id)
            .where(Appointment.request_id == where)
            .order_by(Appointment.starts_at)
        )
    ).all()
    messages = list(
        await db_session.scalars(
            select(RequestMessage)
            .where(RequestMessage.request_id == where)
            .order_by(RequestMessage.created_at, RequestMessage.id)
        )
    )
    return {
        "history": history,
        "appointments": appointments,
        "series": series,
        "report_rows": report_rows,
        "messages": messages,
    }


async def _records(db_session: AsyncSession, help_request: HelpRequest) -> dict[str, Any]:
    """What the request's page lists: its timeline, the names in it, and the volunteers to offer it to."""
    timeline = await _timeline(db_session, help_request.id)
    report_rows = timeline.pop("report_rows")
    names = await display_names(
        db_session,
        [help_request.volunteer_id, help_request.created_by]
        + [e.actor_id for e in timeline["history"]]
        + [m.author_id for m in timeline["messages"]]
        + [a.volunteer_id for a in timeline["appointments"]]
        + [r.author_id for r, _when in report_rows],
    )
    signs = warning_labels()
    reports = [
        ReportLine(
            report=r,
            when=local_time(when),
            author=names.get(r.author_id, "—") if r.author_id else "—",
            signs=[signs.get(s, s) for s in r.warning_signs],
        )
        for r, when in report_rows
    ]
    ranked = (
        await matching.rank(db_session, help_request) if help_request.status in ("open", "offered") else []
    )
    offered = set(
        await db_session.scalars(
            select(RequestOffer.volunteer_id).where(RequestOffer.request_id == help_request.id)
        )
    )
    return {
        **timeline,
        "reports": reports,
        "ranked": ranked,
        "offered": offered,
        "names": names,
    }


def _shown_errors(errors: dict[str, str] | None, forms: set[str]) -> dict[str, str]:
    """An action refused because the request moved on: its form is gone, so the message goes on top."""
    shown: dict[str, str] = {}
    for key, message in (errors or {}).items():
        section = SECTION_OF_ERROR.get(key)
        shown["form" if section is not None and section not in forms else key] = message
    return shown


def _labels(help_request: HelpRequest) -> dict[str, Any]:
    weekdays = weekday_labels()
    return {
        "status_labels": status_labels(),
        "created_as_labels": created_as_labels(),
        "appointment_labels": appointment_labels(),
        "cancel_reasons": cancel_reason_labels(),
        "history_note": history_note,
        "mood_labels": mood_labels(),
        "weekdays": weekdays,
        "weekday_options": [(str(i), label) for i, label in enumerate(weekdays)],
        "preferred": [
            (weekdays[w["weekday"]] if 0 <= w.get("weekday", -1) <= 6 else "?", w.get("start_minute", 0))
            for w in help_request.preferred_windows
        ],
    }


async def request_page(
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
    help_request = await visible_request(db_session, request_id)
    manifest = registry.module(help_request.module)
    assert manifest is not None  # visible means installed
    viewer = await actor_of(db_session, identity_of(request))
    beneficiary = await db_session.get(Person, help_request.beneficiary_id)
    if beneficiary is None:
        raise NotFoundException()
    contact = await contact_for(db_session, viewer=viewer, request=help_request, beneficiary=beneficiary)
    records = await _records(db_session, help_request)
    # Reading the person's contact details is recorded (contact_for); keep that record now.
    await db_session.commit()
    forms = action_forms(help_request)
    context = {
        "help_request": help_request,
        "manifest": manifest,
        "described": manifest.describe(help_request.details),
        "beneficiary": beneficiary,
        "contact": contact,
        "channels": [channel_labels().get(c, c) for c in beneficiary.channels],
        **records,
        "errors": _shown_errors(errors, forms),
        "forms": forms,
        "values": {"offer_count": "5", "series_interval": "1", **(values or {})},
        "notice": notice,
        "kind_notice": kind_notice,
        **_labels(help_request),
        "active": help_request.status in ACTIVE,
        "max_offer": MAX_OFFER,
    }
    return await coordination_page(request, db_session, "coordination/request.html", context, status=status)


def _page_of_step(params: dict[str, Any]) -> str | None:
    """A GET of one of a request's actions shows the request; an unknown action is nobody's page."""
    return f"{REQUESTS}/{params['request_id']}" if params.get("step") in STEPS else None


class RequestsController(Controller):
    path = REQUESTS
    dependencies = PAGE_DEPENDENCIES

    @get("/", guards=[requires("requests.triage")], name="coordination-requests")
    async def requests(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[str]:
        visible = await visible_modules(request)
        modules = [m for m in registry.installed_modules().values() if m.slug in visible]
        status = request.query_params.get("status", "")
        status = status if status in REQUEST_STATUSES else ""
        module = request.query_params.get("module", "")
        module = module if module in visible else ""
        rows, pagination = await paginate(
            db_session,
            request_list(bool(status), bool(module)),
            page_number(request),
            {"status": status, "module": module},
            {"visible": sorted(visible), "status": status, "module": module},
        )
        labels = status_labels()
        context = {
            "rows": rows,  # id, module, status, created_at, the person helped's name, the volunteer's or None
            "pagination": pagination,
            "values": {"status": status, "module": module},
            "status_labels": labels,
            "status_options": list(labels.items()),
            "module_options": [(m.slug, str(m.name)) for m in modules],
            "module_names": {m.slug: str(m.name) for m in modules},
        }
        return await coordination_page(request, db_session, "coordination/requests.html", context)

    @get("/{request_id:uuid}", guards=[requires("requests.triage")], name="coordination-request")
    async def show(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        locale: NamedDependency[str],
    ) -> Response[str]:
        notice = done_messages().get(request.query_params.get("done", ""))
        return await request_page(request, db_session, request_id, notice=notice)

    @post(
        "/{request_id:uuid}/{step:str}",
        guards=[requires("requests.triage")],
        name="coordination-request-action",
        opt={"page": _page_of_step},
    )
    async def act(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        step: FromPath[str],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        if step not in STEPS:
            raise NotFoundException()
        key, run, fields = STEPS[step]
        identity = identity_of(request)
        # Locked: two coordinators acting on one request at once are served one after the other.
        help_request = await visible_request(db_session, request_id, lock=True)
        form = kept_values(data)
        try:
            if invisible := form_problems(data, multiline=TEXTAREAS):
                raise FormProblem(invisible)
            outcome = await run(db_session, help_request, data, identity.person_id)
        except AlreadyTaken as exc:
            await db_session.rollback()
            return await request_page(
                request, db_session, request_id, values=form, kind_notice=exc.message, status=409
            )
        except LifecycleError as exc:
            await db_session.rollback()
            errors = {fields.get(exc.field, key): exc.message}
            return await request_page(request, db_session, request_id, errors=errors, values=form, status=400)
        except FormProblem as exc:
            await db_session.rollback()
            return await request_page(
                request, db_session, request_id, errors=exc.errors, values=form, status=400
            )
        message_ids = await announce_outcome(db_session, outcome, tenant_name=tenant_of(request).name)
        await commit_and_announce(request, db_session, message_ids)
        return Redirect(f"{REQUESTS}/{request_id}?done={key}", status_code=303)
