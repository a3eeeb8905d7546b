"""Each tenant's monthly usage, counted in its own schema and kept in ``platform.tenant_usage`` (one row
per tenant and month, counts only: nobody's name, address or message leaves the tenant).

A month is a calendar month in Paris time: from the 1st at 00:00 (Europe/Paris) to the next 1st at
00:00, whatever the time of year. The figures of a month:

- ``people_helped``: distinct beneficiaries (``help_requests.beneficiary_id``) with at least one request
  open at some moment of the month — created before the month's end, and not closed nor cancelled
  (``closed_at``) before its start. A request created and cancelled within the month counts: someone
  asked, and the council handled it.
- ``volunteers``: people holding the ``volunteer`` role whose account existed before the month's end and
  was not disabled before its start (``people.disabled_at``).
- ``requests``: help requests created during the month (``help_requests.created_at``), whatever became
  of them.
- ``appointments``: appointments held during the month: status ``done`` (a visit reported as having
  taken place; not ``no_show``, ``cancelled``, nor ``scheduled`` ones never reported), starting
  (``appointments.starts_at``) within the month.
- ``hours``: the total length (``ends_at - starts_at``) of those held appointments, in hours, to the
  hundredth.

``count_month`` reads one tenant's schema through a session scoped to that tenant; ``store`` writes
the row in platform scope (insert … on conflict do update: a run again replaces the month's figures).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bippop.accounts.models import Person
from bippop.aid.models import Appointment, HelpRequest
from bippop.clock import PARIS
from bippop.coop.models import TenantUsage

PREVIOUS_MONTH_DAYS = 3  # on the 1st to the 3rd, the month just ended is counted again, to its end
HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True)
class MonthUsage:
    people_helped: int
    volunteers: int
    requests: int
    appointments: int
    hours: Decimal


def months_to_count(today: datetime.date) -> list[datetime.date]:
    """The first days of the months a run counts: this month, and in its first days the previous one
    (the run of the 1st at 02:30 would otherwise leave the last hours of the month uncounted)."""
    this_month = today.replace(day=1)
    if today.day > PREVIOUS_MONTH_DAYS:
        return [this_month]
    previous = (this_month - datetime.timedelta(days=1)).replace(day=1)
    return [previous, this_month]


def month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The month from its 1st at midnight in Paris to the next 1st at midnight (aware, Paris time)."""
    start = datetime.datetime(month.year, month.month, 1, tzinfo=PARIS)
    following = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return start, datetime.datetime(following.year, following.month, 1, tzinfo=PARIS)


def count_month(session: Session, month: datetime.date) -> MonthUsage:
    """The month's figures of the tenant ``session`` is scoped to (see the module's docstring)."""
    start, end = month_bounds(month)
    people_helped = session.scalar(
        select(func.count(distinct(HelpRequest.beneficiary_id))).where(
            HelpRequest.created_at < end,
            or_(HelpRequest.closed_at.is_(None), HelpRequest.closed_at >= start),
        )
    )
    volunteers = session.scalar(
        select(func.count(Person.id)).where(
            Person.roles.contains(["volunteer"]),
            Person.created_at < end,
            or_(Person.disabled_at.is_(None), Person.disabled_at >= start),
        )
    )
    requests = session.scalar(
        select(func.count(HelpRequest.id)).where(
            HelpRequest.created_at >= start, HelpRequest.created_at < end
        )
    )
    held = session.execute(
        select(
            func.count(Appointment.id),
            func.coalesce(func.sum(func.extract("epoch", Appointment.ends_at - Appointment.starts_at)), 0),
        ).where(Appointment.status == "done", Appointment.starts_at >= start, Appointment.starts_at < end)
    ).one()
    seconds = Decimal(str(held[1]))
    return MonthUsage(
        people_helped=int(people_helped or 0),
        volunteers=int(volunteers or 0),
        requests=int(requests or 0),
        appointments=int(held[0] or 0),
        hours=(seconds / 3600).quantize(HUNDREDTH, rounding=ROUND_HALF_UP),
    )


def store(
    session: Session, tenant_id: uuid.UUID, month: datetime.date, usage: MonthUsage, *, now: datetime.datetime
) -> None:
    """Insert the tenant's row for the month, or replace its figures (a platform-scope session)."""
    values = {**asdict(usage), "computed_at": now}
    statement = insert(TenantUsage).values(tenant_id=tenant_id, month=month, **values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[TenantUsage.tenant_id, TenantUsage.month],
            set_={name: statement.excluded[name] for name in values},
        )
    )
