"""The resident portal: asking for help (for oneself or, under a mandate, for a parent), following
one's requests, the volunteer's dashboard (requests near me, pop, appointments, visit reports,
availability, calendar feed), events, and "report a concern" from every page.

Pages are plain forms that work without JavaScript; every error is shown next to its field; a
form sent after the session ended comes back filled in (``take_draft``).
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.auth import current_identity
from bippop.accounts.controllers import FormData, _commit_and_send, _page, signed_in_person, tenant_of
from bippop.accounts.models import Mandate, Person
from bippop.accounts.permissions import requires
from bippop.aid import lifecycle
from bippop.aid.contact import contact_for, short_name
from bippop.aid.lifecycle import AlreadyTaken, LifecycleError, Outcome
from bippop.aid.matching import distance_km
from bippop.aid.models import (
    Appointment,
    AvailabilityWindow,
    Concern,
    Event,
    EventRegistration,
    HelpRequest,
    RequestMessage,
    RequestOffer,
    VisitReport,
)
from bippop.aid.offering import offer_to_best
from bippop.modules import registry
from bippop.modules.contract import ModuleManifest
from bippop.notifications.dispatch import notify_all
from bippop.tenants.urls import tenant_url
from bippop.web.drafts import take_draft
from bippop.web.forms import field_problem, form_problems
from bippop.web.i18n import _

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


def _windows_from_form(data: dict[str, Any]) -> list[dict[str, int]]:
    chosen = data.get("when", [])
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    windows = []
    for value in chosen:
        day, _sep, period = str(value).partition("-")
        if re.fullmatch(r"[0-6]", day) and period in PERIODS:
            start, end = PERIODS[period]
            windows.append({"weekday": int(day), "start_minute": start, "end_minute": end})
    return windows


def _when_values(windows: list[dict[str, int]]) -> list[str]:
    found = []
    for window in windows:
        for period, (start, _end) in PERIODS.items():
            if window["start_minute"] == start:
                found.append(f"{window['weekday']}-{period}")
    return found


async def _announce(request: Request, db_session: AsyncSession, outcome: Outcome) -> None:
    ids = await notify_all(
        db_session, outcome.notify, request_id=outcome.request.id, tenant_name=tenant_of(request).name
    )
    await _commit_and_send(request, db_session, ids)


async def _for_whom(db_session: AsyncSession, me: Person) -> list[Person]:
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


async def _visible(db_session: AsyncSession) -> frozenset[str]:
    return registry.visible_modules(await registry.enabled_slugs(db_session))


def _module_or_404(slug: str, visible: frozenset[str]) -> ModuleManifest:
    manifest = registry.module(slug)
    if manifest is None or slug not in visible:
        raise NotFoundException()
    return manifest


class AskController(Controller):
    """Residents: ask, follow, cancel, give feedback, write to the volunteer through the platform."""

    guards = [requires("requests.ask")]

    @get("/demander", name="ask")
    async def choose(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        modules = await registry.enabled_modules(db_session)
        return await _page(request, db_session, "portal/ask_choose.html", {"modules": modules})

    @get("/demander/{slug:str}", name="ask-module")
    async def form(
        self, request: Request, db_session: NamedDependency[AsyncSession], slug: FromPath[str]
    ) -> Response[str]:
        manifest = _module_or_404(slug, await _visible(db_session))
        me = await signed_in_person(request, db_session)
        values = await take_draft(request)
        return await self._render(request, db_session, manifest, me, values, {})

    async def _render(
        self,
        request: Request,
        db_session: AsyncSession,
        manifest: ModuleManifest,
        me: Person,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[str]:
        people = await _for_whom(db_session, me)
        context = {
            "module": manifest,
            "values": values,
            "errors": errors,
            "people": people,
            "me": me,
            "weekdays": [(d, weekday_name(d)) for d in WEEKDAYS],
            "periods": [(p, period_name(p)) for p in PERIODS],
            "when": values.get("when", [])
            if isinstance(values.get("when"), list)
            else [values.get("when")]
            if values.get("when")
            else [],
            "france_services": await _nearest_france_services(db_session, me)
            if manifest.slug == "admin_help"
            else None,
            "details": {},
        }
        return await _page(request, db_session, "portal/ask_form.html", context, status=status)

    @post("/demander/{slug:str}")
    async def create(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        manifest = _module_or_404(slug, await _visible(db_session))
        me = await signed_in_person(request, db_session)
        clean, errors = manifest.validate(data)
        people = await _for_whom(db_session, me)
        target_id = str(data.get("for_whom") or (people[0].id if len(people) == 1 else ""))
        beneficiary = next((p for p in people if str(p.id) == target_id), None)
        if beneficiary is None:
            errors["for_whom"] = _("Choose the person this request is for.")
        errors.update(form_problems(data, multiline=manifest.textareas))
        windows = _windows_from_form(data)
        if errors:
            return await self._render(request, db_session, manifest, me, dict(data), errors, status=400)
        assert beneficiary is not None
        try:
            outcome = await lifecycle.create_request(
                db_session,
                manifest=manifest,
                beneficiary=beneficiary,
                actor=me,
                created_as="beneficiary" if beneficiary.id == me.id else "relative",
                details=clean,
                recurring=data.get("recurring") == "on",
                preferred_windows=windows,
            )
        except LifecycleError as exc:
            await _undo(db_session, me)
            return await self._render(
                request, db_session, manifest, me, dict(data), {exc.field: exc.message}, status=400
            )
        await offer_to_best(db_session, outcome.request)
        await _announce(request, db_session, outcome)
        return Redirect(f"/mes-demandes/{outcome.request.id}?created=1", status_code=303)

    @get("/mes-demandes", name="my-requests")
    async def mine(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        me = await signed_in_person(request, db_session)
        people = {p.id: p for p in await _for_whom(db_session, me)}
        visible = await _visible(db_session)
        rows = list(
            await db_session.scalars(
                select(HelpRequest)
                .where(
                    HelpRequest.beneficiary_id.in_(list(people) or [me.id]),
                    HelpRequest.module.in_(list(visible)),
                )
                .order_by(HelpRequest.created_at.desc())
                .limit(100)
            )
        )
        items = [
            {
                "request": r,
                "module": registry.module(r.module),
                "for": people.get(r.beneficiary_id),
                "status": status_label(r.status),
            }
            for r in rows
        ]
        return await _page(request, db_session, "portal/my_requests.html", {"items": items, "me": me})

    async def _mine_or_404(
        self, db_session: AsyncSession, me: Person, request_id: uuid.UUID, *, lock: bool = False
    ) -> HelpRequest:
        # A change locks the row: a coordinator's action on the same request waits, then sees ours.
        found = await db_session.get(HelpRequest, request_id, with_for_update=lock, populate_existing=lock)
        people = {p.id for p in await _for_whom(db_session, me)}
        if (
            found is None
            or found.beneficiary_id not in people
            or found.module not in await _visible(db_session)
        ):
            raise NotFoundException()
        return found

    @get("/mes-demandes/{request_id:uuid}", name="my-request")
    async def detail(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id)
        return await self._detail(request, db_session, me, found, {}, values=await take_draft(request))

    async def _detail(
        self,
        request: Request,
        db_session: AsyncSession,
        me: Person,
        found: HelpRequest,
        errors: dict[str, str],
        status: int = 200,
        values: dict[str, Any] | None = None,
    ) -> Response[str]:
        volunteer = await db_session.get(Person, found.volunteer_id) if found.volunteer_id else None
        appointments = list(
            await db_session.scalars(
                select(Appointment).where(Appointment.request_id == found.id).order_by(Appointment.starts_at)
            )
        )
        messages = list(
            await db_session.scalars(
                select(RequestMessage)
                .where(RequestMessage.request_id == found.id)
                .order_by(RequestMessage.created_at)
            )
        )
        authors = {
            p.id: p
            for p in await db_session.scalars(
                select(Person).where(Person.id.in_([m.author_id for m in messages if m.author_id]))
            )
        }
        context = {
            "item": found,
            "module": registry.module(found.module),
            "status": status_label(found.status),
            "volunteer_name": short_name(volunteer.display_name) if volunteer else None,
            "appointments": appointments,
            "messages": [
                (m, short_name(authors[m.author_id].display_name) if m.author_id in authors else "—")
                for m in messages
            ],
            "errors": errors,
            "values": values or {},
            "can_cancel": found.status in ACTIVE,
            "can_pause": found.recurring and found.status == "scheduled",
            "can_resume": found.status == "paused",
            "wants_feedback": found.status in ("done", "reported"),
            "local": lambda moment: moment.astimezone(PARIS),
            "created": request.query_params.get("created") == "1",
        }
        return await _page(request, db_session, "portal/my_request.html", context, status=status)

    @post("/mes-demandes/{request_id:uuid}/annuler", name="my-request-cancel")
    async def cancel(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        if invisible := form_problems(data):
            return await self._detail(request, db_session, me, found, invisible, status=400, values=data)
        try:
            outcome = await lifecycle.cancel(
                db_session, found, actor_id=me.id, reason=str(data.get("reason", ""))
            )
        except LifecycleError as exc:
            await _undo(db_session, me, found)
            return await self._detail(request, db_session, me, found, {exc.field: exc.message}, status=400)
        await _announce(request, db_session, outcome)
        return Redirect(f"/mes-demandes/{found.id}", status_code=303)

    @post("/mes-demandes/{request_id:uuid}/pause", name="my-request-pause")
    async def pause(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        try:
            outcome = await (lifecycle.resume if found.status == "paused" else lifecycle.pause)(
                db_session, found, actor_id=me.id
            )
        except LifecycleError as exc:
            await _undo(db_session, me, found)
            return await self._detail(request, db_session, me, found, {"form": exc.message}, status=400)
        await _announce(request, db_session, outcome)
        return Redirect(f"/mes-demandes/{found.id}", status_code=303)

    @post("/mes-demandes/{request_id:uuid}/avis", name="my-request-feedback")
    async def feedback(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        rating = str(data.get("rating", ""))
        if invisible := form_problems(data, multiline=("comment",)):
            return await self._detail(request, db_session, me, found, invisible, status=400)
        try:
            outcome = await lifecycle.give_feedback(
                db_session,
                found,
                author_id=me.id,
                rating=int(rating) if re.fullmatch(r"[1-5]", rating) else 0,
                comment=str(data.get("comment", "")),
            )
        except LifecycleError as exc:
            await _undo(db_session, me, found)
            return await self._detail(request, db_session, me, found, {exc.field: exc.message}, status=400)
        await _announce(request, db_session, outcome)
        return Redirect(f"/mes-demandes/{found.id}?thanks=1", status_code=303)

    @post("/mes-demandes/{request_id:uuid}/message", name="my-request-message")
    async def message(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._mine_or_404(db_session, me, request_id, lock=True)
        return await _post_message(
            request,
            db_session,
            me,
            found,
            str(data.get("body", "")),
            f"/mes-demandes/{found.id}",
            lambda errors: self._detail(request, db_session, me, found, errors, status=400),
        )


async def _post_message(
    request: Request,
    db_session: AsyncSession,
    me: Person,
    found: HelpRequest,
    body: str,
    back: str,
    on_error: Any,
) -> Response[Any]:
    body = body.strip()
    if invisible := field_problem(body, multiline=True):
        return await on_error({"body": invisible})
    if not body:
        return await on_error({"body": _("Write your message first.")})
    if len(body) > 2000:
        return await on_error({"body": _("At most %(n)d characters, please.") % {"n": 2000}})
    db_session.add(RequestMessage(id=uuid.uuid4(), request_id=found.id, author_id=me.id, body=body))
    # The other side hears of it (the text stays on the platform: no phone number is exchanged).
    other = found.beneficiary_id if me.id == found.volunteer_id else found.volunteer_id
    ids = await notify_all(
        db_session,
        [("request_message", other)] if other else [],
        request_id=found.id,
        tenant_name=tenant_of(request).name,
    )
    await _commit_and_send(request, db_session, ids)
    return Redirect(back + "#messages", status_code=303)


async def _nearest_france_services(db_session: AsyncSession, me: Person) -> dict[str, Any] | None:
    """The nearest France Services of the list the council keeps in its settings (``france_services``)."""
    from bippop.accounts.models import Setting

    sites = await db_session.scalar(select(Setting.value).where(Setting.key == "france_services"))
    if not sites:
        return None
    best, best_km = None, None
    for site in sites:
        km = None
        if me.latitude is not None and me.longitude is not None and site.get("latitude") is not None:
            km = distance_km(me.latitude, me.longitude, float(site["latitude"]), float(site["longitude"]))
        if best is None or (km is not None and (best_km is None or km < best_km)):
            best, best_km = site, km
    return {**(best or {}), "distance_km": best_km}


async def _undo(db_session: AsyncSession, *shown: object) -> None:
    """A refused change leaves nothing behind: roll back, then reload what the page shows."""
    await db_session.rollback()
    for instance in shown:
        await db_session.refresh(instance)


def _parse_local(day: str, time: str) -> datetime.datetime | None:
    try:
        d, m, y = (int(x) for x in day.strip().split("/"))
        if not 1900 <= y <= 2200:
            return None
        hh, mm = (int(x) for x in time.strip().replace("h", ":").split(":"))
        return datetime.datetime(y, m, d, hh, mm, tzinfo=PARIS).astimezone(datetime.UTC)
    except (ValueError, TypeError, OverflowError):
        return None


class VolunteerController(Controller):
    """The volunteer's dashboard and what they do from it."""

    path = "/benevole"
    guards = [requires("volunteering")]

    @get("/", name="volunteer-dashboard")
    async def dashboard(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        me = await signed_in_person(request, db_session)
        visible = await _visible(db_session)
        today = datetime.date.today()
        now = lifecycle.now_utc()
        offered_ids = set(
            await db_session.scalars(
                select(RequestOffer.request_id).where(
                    RequestOffer.volunteer_id == me.id, RequestOffer.declined_at.is_(None)
                )
            )
        )
        candidates = list(
            await db_session.scalars(
                select(HelpRequest)
                .where(HelpRequest.status.in_(("open", "offered")), HelpRequest.module.in_(list(visible)))
                .order_by(HelpRequest.created_at.desc())
                .limit(300)
            )
        )
        declined = set(
            await db_session.scalars(
                select(RequestOffer.request_id).where(
                    RequestOffer.volunteer_id == me.id, RequestOffer.declined_at.is_not(None)
                )
            )
        )
        near = []
        for item in candidates:
            manifest = registry.module(item.module)
            if manifest is None or item.id in declined or lifecycle.eligibility_problem(manifest, me, today):
                continue
            km = None
            if None not in (item.latitude, item.longitude, me.latitude, me.longitude):
                km = distance_km(item.latitude, item.longitude, me.latitude, me.longitude)  # type: ignore[arg-type]
            if km is not None and km > me.max_distance_km and item.id not in offered_ids:
                continue
            near.append({"request": item, "module": manifest, "km": km, "offered": item.id in offered_ids})
        near.sort(key=lambda n: (not n["offered"], n["km"] if n["km"] is not None else 999))
        appointments = list(
            await db_session.execute(
                select(Appointment, HelpRequest)
                .join(HelpRequest, HelpRequest.id == Appointment.request_id)
                .where(
                    Appointment.volunteer_id == me.id,
                    Appointment.status == "scheduled",
                    Appointment.ends_at > now - datetime.timedelta(days=1),
                )
                .order_by(Appointment.starts_at)
                .limit(50)
            )
        )
        reported = set(
            await db_session.scalars(select(VisitReport.appointment_id).where(VisitReport.author_id == me.id))
        )
        past = list(
            await db_session.execute(
                select(Appointment, HelpRequest)
                .join(HelpRequest, HelpRequest.id == Appointment.request_id)
                .where(
                    Appointment.volunteer_id == me.id,
                    Appointment.status.in_(("done", "scheduled")),
                    Appointment.starts_at < now,
                )
                .order_by(Appointment.starts_at.desc())
                .limit(20)
            )
        )
        to_report = [(a, r) for a, r in past if a.id not in reported]
        mine = list(
            await db_session.scalars(
                select(HelpRequest).where(
                    HelpRequest.volunteer_id == me.id,
                    HelpRequest.status.in_(("matched", "scheduled", "paused")),
                )
            )
        )
        windows = list(
            await db_session.scalars(
                select(AvailabilityWindow)
                .where(AvailabilityWindow.person_id == me.id)
                .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_minute)
            )
        )
        context = {
            "me": me,
            "near": near[:30],
            "appointments": [(a, r, registry.module(r.module)) for a, r in appointments if a.starts_at > now],
            "to_report": [(a, r, registry.module(r.module)) for a, r in to_report],
            "mine": [(r, registry.module(r.module)) for r in mine if r.module in visible],
            "windows": [f"{weekday_name(w.weekday)} {_period_of(w)}" for w in windows],
            "local": lambda moment: moment.astimezone(PARIS),
            "vetting": me.vetting_on(today),
            "calendar_url": request.query_params.get("agenda"),
        }
        return await _page(request, db_session, "portal/volunteer_dashboard.html", context)

    async def _request_or_404(
        self,
        db_session: AsyncSession,
        me: Person,
        request_id: uuid.UUID,
        *,
        lock: bool = False,
        eligible_only: bool = True,
    ) -> HelpRequest:
        """The request as this volunteer may see it; ``eligible_only=False`` for popping only, where the
        lifecycle refuses an ineligible volunteer itself and says why, showing nothing of the person."""
        found = await db_session.get(HelpRequest, request_id, with_for_update=lock, populate_existing=lock)
        if found is None or found.module not in await _visible(db_session):
            raise NotFoundException()
        if found.volunteer_id not in (None, me.id):
            raise NotFoundException()  # someone else's visit: nothing to see here
        if found.volunteer_id is None and found.status not in ("open", "offered"):
            raise NotFoundException()  # no longer looking for anyone
        manifest = registry.module(found.module)
        if (
            eligible_only
            and found.volunteer_id is None
            and (manifest is None or lifecycle.eligibility_problem(manifest, me, datetime.date.today()))
        ):
            raise NotFoundException()  # not vetted or skilled for it: the dashboard does not list it either
        return found

    @get("/demandes/{request_id:uuid}", name="volunteer-request")
    async def request_page(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id)
        return await self._request_view(request, db_session, me, found, {})

    async def _request_view(
        self,
        request: Request,
        db_session: AsyncSession,
        me: Person,
        found: HelpRequest,
        errors: dict[str, str],
        status: int = 200,
        values: dict[str, Any] | None = None,
    ) -> Response[str]:
        beneficiary = await db_session.get(Person, found.beneficiary_id)
        assert beneficiary is not None
        contact = await contact_for(db_session, viewer=me, request=found, beneficiary=beneficiary)
        await db_session.commit()  # the audited read of the contact details
        km = None
        if None not in (found.latitude, found.longitude, me.latitude, me.longitude):
            km = distance_km(found.latitude, found.longitude, me.latitude, me.longitude)  # type: ignore[arg-type]
        messages = list(
            await db_session.scalars(
                select(RequestMessage)
                .where(RequestMessage.request_id == found.id)
                # Not (yet) the volunteer of this request: only what they wrote themselves.
                .where(true() if found.volunteer_id == me.id else RequestMessage.author_id == me.id)
                .order_by(RequestMessage.created_at)
            )
        )
        appointments = list(
            await db_session.scalars(
                select(Appointment)
                .where(Appointment.request_id == found.id, Appointment.volunteer_id == me.id)
                .order_by(Appointment.starts_at)
            )
        )
        context = {
            "item": found,
            "module": registry.module(found.module),
            "contact": contact,
            "km": km,
            "mine": found.volunteer_id == me.id,
            "messages": [(m, m.author_id == me.id) for m in messages],
            "appointments": appointments,
            "windows": [
                f"{weekday_name(w['weekday'])} {period_name(_period_key(w['start_minute']))}"
                for w in found.preferred_windows
            ],
            "errors": errors,
            "values": values or {},
            "status": status_label(found.status),
            "local": lambda moment: moment.astimezone(PARIS),
        }
        return await _page(request, db_session, "portal/volunteer_request.html", context, status=status)

    @post("/demandes/{request_id:uuid}/pop", name="volunteer-pop")
    async def pop(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True, eligible_only=False)
        try:
            outcome = await lifecycle.pop(db_session, found, me)
        except LifecycleError as exc:
            await _undo(db_session, me, found)
            return await _page(
                request,
                db_session,
                "portal/pop_refused.html",
                {"message": exc.message, "taken": isinstance(exc, AlreadyTaken)},
                status=409 if isinstance(exc, AlreadyTaken) else 400,
            )
        await _announce(request, db_session, outcome)
        return Redirect(f"/benevole/demandes/{found.id}?merci=1", status_code=303)

    @post("/demandes/{request_id:uuid}/decliner", name="volunteer-decline")
    async def decline(
        self, request: Request, db_session: NamedDependency[AsyncSession], request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        offer = await db_session.scalar(
            select(RequestOffer).where(
                RequestOffer.request_id == found.id, RequestOffer.volunteer_id == me.id
            )
        )
        if offer is None:
            offer = RequestOffer(id=uuid.uuid4(), request_id=found.id, volunteer_id=me.id)
            db_session.add(offer)
        offer.declined_at = lifecycle.now_utc()
        await db_session.commit()
        return Redirect("/benevole", status_code=303)

    @post("/demandes/{request_id:uuid}/rendez-vous", name="volunteer-schedule")
    async def schedule(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        values = {"day": str(data.get("day", "")), "time": str(data.get("time", ""))}
        starts_at = _parse_local(values["day"], values["time"])
        if invisible := form_problems(data):
            return await self._request_view(
                request, db_session, me, found, invisible, status=400, values=values
            )
        if starts_at is None:
            return await self._request_view(
                request,
                db_session,
                me,
                found,
                {"day": _("Enter a date like 14/03/2027 and a time like 14:30.")},
                status=400,
                values=values,
            )
        if found.volunteer_id != me.id:
            raise NotFoundException()
        try:
            outcome = await lifecycle.schedule(db_session, found, starts_at, actor_id=me.id)
        except LifecycleError as exc:
            await _undo(db_session, me, found)
            field = "day" if exc.field == "starts_at" else exc.field
            return await self._request_view(
                request, db_session, me, found, {field: exc.message}, status=400, values=values
            )
        await _announce(request, db_session, outcome)
        return Redirect(f"/benevole/demandes/{found.id}", status_code=303)

    @post("/demandes/{request_id:uuid}/retrait", name="volunteer-withdraw")
    async def withdraw(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        reason = str(data.get("reason", "")).strip()
        if invisible := form_problems(data):
            return await self._request_view(request, db_session, me, found, invisible, status=400)
        if not reason:
            return await self._request_view(
                request,
                db_session,
                me,
                found,
                {"reason": _("Please say in a few words why, so that everyone understands.")},
                status=400,
            )
        try:
            outcome = await lifecycle.release(
                db_session, found, action="withdraw", actor_id=me.id, reason=reason
            )
        except LifecycleError as exc:
            await _undo(db_session, me, found)
            return await self._request_view(
                request, db_session, me, found, {"reason": exc.message}, status=400
            )
        await _announce(request, db_session, outcome)
        return Redirect("/benevole", status_code=303)

    @post("/demandes/{request_id:uuid}/message", name="volunteer-message")
    async def message(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        found = await self._request_or_404(db_session, me, request_id, lock=True)
        return await _post_message(
            request,
            db_session,
            me,
            found,
            str(data.get("body", "")),
            f"/benevole/demandes/{found.id}",
            lambda errors: self._request_view(request, db_session, me, found, errors, status=400),
        )

    async def _appointment_or_404(
        self, db_session: AsyncSession, me: Person, appointment_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Appointment, HelpRequest]:
        appointment = await db_session.get(Appointment, appointment_id)
        if appointment is None or appointment.volunteer_id != me.id:
            raise NotFoundException()
        found = await db_session.get(
            HelpRequest, appointment.request_id, with_for_update=lock, populate_existing=lock
        )
        if found is None:
            raise NotFoundException()
        return appointment, found

    @get("/rendez-vous/{appointment_id:uuid}/compte-rendu", name="visit-report")
    async def report_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], appointment_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        appointment, found = await self._appointment_or_404(db_session, me, appointment_id)
        return await self._report_page(request, db_session, appointment, found, await take_draft(request), {})

    async def _report_page(
        self,
        request: Request,
        db_session: AsyncSession,
        appointment: Appointment,
        found: HelpRequest,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[str]:
        from bippop.aid.models import MOODS, WARNING_SIGNS

        signs = values.get("warning_signs", [])
        context = {
            "appointment": appointment,
            "item": found,
            "module": registry.module(found.module),
            "values": values,
            "signs_chosen": [signs] if isinstance(signs, str) else list(signs),
            "errors": errors,
            "moods": [(m, mood_label(m)) for m in MOODS],
            "signs": [(s, sign_label(s)) for s in WARNING_SIGNS],
            "local": lambda moment: moment.astimezone(PARIS),
        }
        return await _page(request, db_session, "portal/visit_report.html", context, status=status)

    @post("/rendez-vous/{appointment_id:uuid}/compte-rendu")
    async def report(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        appointment_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        appointment, found = await self._appointment_or_404(db_session, me, appointment_id, lock=True)
        signs = data.get("warning_signs", [])
        signs = [signs] if isinstance(signs, str) else list(signs)
        if invisible := form_problems(data, multiline=("observations",)):
            return await self._report_page(
                request, db_session, appointment, found, dict(data), invisible, status=400
            )
        if appointment.starts_at > lifecycle.now_utc():
            return await self._report_page(
                request,
                db_session,
                appointment,
                found,
                dict(data),
                {"form": _("This visit has not happened yet: you can report it afterwards.")},
                status=400,
            )
        try:
            outcome = await lifecycle.report(
                db_session,
                found,
                appointment,
                author=me,
                mood=str(data.get("mood", "")),
                observations=str(data.get("observations", "")),
                warning_signs=signs,
            )
        except LifecycleError as exc:
            await _undo(db_session, me, found, appointment)
            return await self._report_page(
                request, db_session, appointment, found, dict(data), {exc.field: exc.message}, status=400
            )
        try:
            await _announce(request, db_session, outcome)
        except IntegrityError:  # the same report sent twice at once: the first one counts
            await _undo(db_session, me, found, appointment)
            return Redirect("/benevole?rapport=1", status_code=303)
        return Redirect("/benevole?rapport=1", status_code=303)

    @post("/rendez-vous/{appointment_id:uuid}/absent", name="visit-no-show")
    async def no_show(
        self, request: Request, db_session: NamedDependency[AsyncSession], appointment_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        """Nobody opened the door: recorded; twice in a row, the coordinators are asked to phone."""
        me = await signed_in_person(request, db_session)
        appointment, found = await self._appointment_or_404(db_session, me, appointment_id, lock=True)
        try:
            outcome = await lifecycle.complete(db_session, found, appointment, actor_id=me.id, no_show=True)
        except LifecycleError as exc:
            await _undo(db_session, me, found, appointment)
            return await self._report_page(
                request, db_session, appointment, found, {}, {"form": exc.message}, status=400
            )
        await _announce(request, db_session, outcome)
        return Redirect("/benevole?absent=1", status_code=303)

    @get("/disponibilites", name="volunteer-availability")
    async def availability_form(
        self, request: Request, db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        me = await signed_in_person(request, db_session)
        windows = list(
            await db_session.scalars(select(AvailabilityWindow).where(AvailabilityWindow.person_id == me.id))
        )
        chosen = [f"{w.weekday}-{_period_key(w.start_minute)}" for w in windows]
        return await self._availability_page(
            request, db_session, me, {"when": chosen, "max_distance_km": str(me.max_distance_km)}, {}
        )

    async def _availability_page(
        self,
        request: Request,
        db_session: AsyncSession,
        me: Person,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[str]:
        context = {
            "values": values,
            "errors": errors,
            "weekdays": [(d, weekday_name(d)) for d in WEEKDAYS],
            "periods": [(p, period_name(p)) for p in PERIODS],
            "when": values.get("when", []),
        }
        return await _page(request, db_session, "portal/availability.html", context, status=status)

    @post("/disponibilites")
    async def availability(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        distance = str(data.get("max_distance_km", "")).strip()
        if invisible := form_problems(data):
            when = data.get("when", [])
            values = {"when": [when] if isinstance(when, str) else list(when), "max_distance_km": distance}
            return await self._availability_page(request, db_session, me, values, invisible, status=400)
        if not re.fullmatch(r"[0-9]{1,2}", distance) or not 1 <= int(distance) <= 50:
            when = data.get("when", [])
            return await self._availability_page(
                request,
                db_session,
                me,
                {"when": [when] if isinstance(when, str) else list(when), "max_distance_km": distance},
                {"max_distance_km": _("Enter a distance between 1 and 50 km.")},
                status=400,
            )
        me.max_distance_km = int(distance)
        for old in await db_session.scalars(
            select(AvailabilityWindow).where(AvailabilityWindow.person_id == me.id)
        ):
            await db_session.delete(old)
        for window in _windows_from_form(data):
            db_session.add(AvailabilityWindow(id=uuid.uuid4(), person_id=me.id, **window))
        await db_session.commit()
        return Redirect("/benevole?disponibilites=1", status_code=303)

    @post("/agenda", name="volunteer-calendar")
    async def calendar(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        from bippop.notifications import calendar

        token = await calendar.new_calendar_token(db_session, me)
        await db_session.commit()
        url = tenant_url(tenant_of(request), f"/agenda/{token}.ics", request.app.state.settings)
        return await _page(request, db_session, "portal/calendar_link.html", {"url": url})


def _period_key(start_minute: int) -> str:
    for key, (start, _end) in PERIODS.items():
        if start == start_minute:
            return key
    return "morning" if start_minute < 12 * 60 else "afternoon"


def _period_of(window: AvailabilityWindow) -> str:
    return period_name(_period_key(window.start_minute))


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


class EventsController(Controller):
    """Events of the commune: everyone sees them; residents and volunteers register (waiting list when full)."""

    path = "/evenements"

    @get("/", opt={"public": True}, name="events")
    async def list_events(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        if "events" not in await _visible(db_session):
            raise NotFoundException()
        identity = current_identity(request)
        now = lifecycle.now_utc()
        events = list(
            await db_session.scalars(
                select(Event)
                .where(Event.starts_at > now, Event.cancelled_at.is_(None))
                .order_by(Event.starts_at)
                .limit(50)
            )
        )
        counts = dict(
            (
                await db_session.execute(
                    select(EventRegistration.event_id, func.count())
                    .where(
                        EventRegistration.event_id.in_([e.id for e in events]),
                        EventRegistration.status == "registered",
                    )
                    .group_by(EventRegistration.event_id)
                )
            ).all()
        )
        mine: dict[uuid.UUID, str] = {}
        if identity is not None and identity.kind == "person":
            mine = dict(
                (
                    await db_session.execute(
                        select(EventRegistration.event_id, EventRegistration.status).where(
                            EventRegistration.person_id == identity.person_id,
                            EventRegistration.status != "cancelled",
                        )
                    )
                ).all()
            )
        items = [{"event": e, "taken": counts.get(e.id, 0), "mine": mine.get(e.id)} for e in events]
        can_join = identity is not None and bool(
            {"beneficiary", "relative", "volunteer"} & set(identity.roles)
        )
        return await _page(
            request,
            db_session,
            "portal/events.html",
            {
                "items": items,
                "can_join": can_join,
                "local": lambda m: m.astimezone(PARIS),
                "done": request.query_params.get("inscrit"),
            },
        )

    async def _event_or_404(self, db_session: AsyncSession, event_id: uuid.UUID) -> Event:
        event = await db_session.get(Event, event_id)
        if event is None or event.cancelled_at is not None or "events" not in await _visible(db_session):
            raise NotFoundException()
        return event

    @post("/{event_id:uuid}/inscription", guards=[requires("events.join")], name="event-register")
    async def register(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        from bippop.aid import events as event_service

        me = await signed_in_person(request, db_session)
        event = await self._event_or_404(db_session, event_id)
        try:
            status = await event_service.register(db_session, event, me)
        except event_service.EventError as exc:
            await db_session.rollback()
            return await _page(
                request,
                db_session,
                "portal/pop_refused.html",
                {"message": exc.message, "taken": False, "back": "/evenements"},
                status=409,
            )
        await db_session.commit()
        return Redirect(f"/evenements?inscrit={status}#event-{event.id}", status_code=303)

    @post("/{event_id:uuid}/desinscription", guards=[requires("events.join")], name="event-unregister")
    async def unregister(
        self, request: Request, db_session: NamedDependency[AsyncSession], event_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        from bippop.aid import events as event_service

        me = await signed_in_person(request, db_session)
        event = await self._event_or_404(db_session, event_id)
        try:
            promoted = await event_service.cancel_registration(db_session, event, me)
        except event_service.EventError as exc:
            await db_session.rollback()
            return await _page(
                request,
                db_session,
                "portal/pop_refused.html",
                {"message": exc.message, "taken": False, "back": "/evenements"},
                status=409,
            )
        ids = await notify_all(
            db_session,
            [("event_place_freed", promoted)] if promoted else [],
            tenant_name=tenant_of(request).name,
        )
        await _commit_and_send(request, db_session, ids)
        return Redirect(f"/evenements#event-{event.id}", status_code=303)


class ConcernController(Controller):
    """ "Report a concern", linked from every page for people signed in."""

    path = "/signaler"
    guards = [requires("concerns.report")]

    @get("/", name="concern")
    async def form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        values = {"page": request.query_params.get("depuis", "")[:200], **await take_draft(request)}
        return await _page(request, db_session, "portal/concern.html", {"values": values, "errors": {}})

    @post("/")
    async def report(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        me = await signed_in_person(request, db_session)
        body = str(data.get("body", "")).strip()
        page = str(data.get("page", ""))[:200]
        if invisible := form_problems(data, multiline=("body",)):
            return await _page(
                request,
                db_session,
                "portal/concern.html",
                {"values": {"body": body, "page": page}, "errors": invisible},
                status=400,
            )
        if not body or len(body) > 4000:
            message = (
                _("Tell us in a few words what worries you.")
                if not body
                else _("At most %(n)d characters, please.") % {"n": 4000}
            )
            return await _page(
                request,
                db_session,
                "portal/concern.html",
                {"values": {"body": body, "page": page}, "errors": {"body": message}},
                status=400,
            )
        concern = Concern(
            id=uuid.uuid4(), reporter_id=me.id, body=body, page=page if page.startswith("/") else None
        )
        db_session.add(concern)
        await db_session.flush()
        from bippop.aid.coordination import concern_reported

        await concern_reported(db_session, concern)
        await db_session.commit()
        return await _page(request, db_session, "portal/concern_sent.html", {})


PORTAL_CONTROLLERS = [AskController, VolunteerController, EventsController, ConcernController]
