"""After a visit: done or a no-show (two in a row alert the coordinator), the volunteer's report and its
warning signs, the person's feedback that closes the request."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts.models import Person
from bippop.aid.lifecycle.appointments import cancel_future
from bippop.aid.lifecycle.machine import NO_SHOW_LIMIT, LifecycleError, Outcome, add_task, now_utc, transition
from bippop.aid.models import MOODS, WARNING_SIGNS, Appointment, Feedback, HelpRequest, VisitReport
from bippop.modules.registry import module as find_module
from bippop.web.i18n import _


async def complete(
    session: AsyncSession,
    request: HelpRequest,
    appointment: Appointment,
    *,
    actor_id: uuid.UUID,
    no_show: bool = False,
    now: datetime.datetime | None = None,
) -> Outcome:
    """The appointment happened (or the volunteer found nobody). A one-off request is then done; a
    recurring one stays scheduled. Two no-shows in a row make a task for the coordinator."""
    now = now or now_utc()
    if appointment.request_id != request.id or appointment.status != "scheduled":
        raise LifecycleError(_("This appointment can no longer be changed: reload the page."))
    if appointment.starts_at > now:
        raise LifecycleError(_("This appointment has not happened yet."))
    appointment.status = "no_show" if no_show else "done"
    outcome = Outcome(request)
    if no_show:
        recent = list(
            await session.scalars(
                select(Appointment.status)
                .where(Appointment.request_id == request.id, Appointment.status.in_(("done", "no_show")))
                .order_by(Appointment.starts_at.desc())
                .limit(NO_SHOW_LIMIT)
            )
        )
        if len(recent) >= NO_SHOW_LIMIT and all(s == "no_show" for s in recent):
            outcome.tasks.append(
                await add_task(
                    session,
                    "call_person",
                    person_id=request.beneficiary_id,
                    request_id=request.id,
                    note="no_show",
                    dedupe_key=f"no_show:{appointment.id}",
                )
            )
        audit.record(
            session,
            "appointment_no_show",
            actor_id=actor_id,
            subject_type="help_request",
            subject_id=request.id,
        )
        return outcome
    if not request.recurring:
        await transition(session, request, "done", "complete", actor_id=actor_id)
        outcome.notify.append(("feedback_wanted", request.beneficiary_id))
    else:
        audit.record(
            session, "appointment_done", actor_id=actor_id, subject_type="help_request", subject_id=request.id
        )
    manifest = find_module(request.module)
    hook = manifest.hooks.get("on_appointment_done") if manifest else None
    if hook is not None:
        await hook(session, request, appointment)
    return outcome


async def report(
    session: AsyncSession,
    request: HelpRequest,
    appointment: Appointment,
    *,
    author: Person,
    mood: str,
    observations: str,
    warning_signs: Sequence[str],
) -> Outcome:
    """The visit report. A warning sign (fall, not eating, low mood, unmet need) makes a task for the
    coordinators at once."""
    if appointment.request_id != request.id or appointment.volunteer_id != author.id:
        raise LifecycleError(_("Only the volunteer of this visit can report it."))
    if appointment.status not in ("done", "scheduled"):
        raise LifecycleError(_("This visit did not take place, so there is nothing to report."))
    if mood not in MOODS:
        raise LifecycleError(_("Choose how the person seemed."), field="mood")
    signs = [s for s in dict.fromkeys(warning_signs)]
    if any(s not in WARNING_SIGNS for s in signs):
        raise LifecycleError(_("Choose among the warning signs offered."), field="warning_signs")
    if len(observations) > 4000:
        raise LifecycleError(_("At most %(n)d characters, please.") % {"n": 4000}, field="observations")
    existing = await session.scalar(select(VisitReport).where(VisitReport.appointment_id == appointment.id))
    if existing is not None:
        raise LifecycleError(_("This visit has already been reported. Thank you!"))
    outcome = Outcome(request)
    if appointment.status == "scheduled":
        outcome = await complete(session, request, appointment, actor_id=author.id)
    session.add(
        VisitReport(
            id=uuid.uuid4(),
            appointment_id=appointment.id,
            author_id=author.id,
            mood=mood,
            observations=observations.strip(),
            warning_signs=signs,
        )
    )
    if request.status == "done":
        await transition(session, request, "reported", "report", actor_id=author.id)
    else:
        audit.record(
            session, "visit_reported", actor_id=author.id, subject_type="help_request", subject_id=request.id
        )
    if signs or mood == "worrying":
        outcome.tasks.append(
            await add_task(
                session,
                "warning_sign",
                person_id=request.beneficiary_id,
                request_id=request.id,
                note=",".join(signs) or "worrying",
                dedupe_key=f"warning:{appointment.id}",
            )
        )
    return outcome


async def give_feedback(
    session: AsyncSession, request: HelpRequest, *, author_id: uuid.UUID, rating: int, comment: str
) -> Outcome:
    if not 1 <= rating <= 5:
        raise LifecycleError(_("Choose a rating from 1 to 5."), field="rating")
    if request.status not in ("done", "reported", "scheduled", "closed"):
        raise LifecycleError(_("You can give your opinion once the help has taken place."))
    existing = await session.scalar(
        select(Feedback).where(Feedback.request_id == request.id, Feedback.author_id == author_id)
    )
    if existing is not None:
        existing.rating, existing.comment = rating, comment.strip()[:2000]
    else:
        session.add(
            Feedback(
                id=uuid.uuid4(),
                request_id=request.id,
                author_id=author_id,
                rating=rating,
                comment=comment.strip()[:2000],
            )
        )
    outcome = Outcome(request)
    if request.status in ("done", "reported"):
        await transition(session, request, "closed", "feedback", actor_id=author_id)
        request.closed_at = now_utc()
        outcome.appointments = await cancel_future(session, request, None, request.closed_at)
    return outcome
