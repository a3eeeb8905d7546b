"""The statements of the coordination's hot lists, built once (building a statement with its joins and
count subquery cost more than sending it: ~2 ms a request for the list of requests)."""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from bippop.accounts.models import Person
from bippop.aid.models import HelpRequest
from bippop.web.listing import PagedQuery, paged


@functools.cache
def request_list(by_status: bool, by_module: bool) -> PagedQuery:
    """The coordination's list of requests (the columns it shows), built once per filter combination,
    the modules shown, the status and the module as parameters."""
    volunteer = aliased(Person)
    query = (
        select(
            HelpRequest.id,
            HelpRequest.module,
            HelpRequest.status,
            HelpRequest.created_at,
            Person.display_name,
            volunteer.display_name.label("volunteer_name"),
        )
        .join(Person, Person.id == HelpRequest.beneficiary_id)
        .outerjoin(volunteer, volunteer.id == HelpRequest.volunteer_id)
        .where(HelpRequest.module.in_(bindparam("visible", expanding=True)))
    )
    if by_status:
        query = query.where(HelpRequest.status == bindparam("status"))
    if by_module:
        query = query.where(HelpRequest.module == bindparam("module"))
    return paged(query.order_by(HelpRequest.created_at.desc(), HelpRequest.id.desc()))
