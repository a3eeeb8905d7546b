"""« Appeler la personne »: one call per person and request while it is open, so a caller hears all the
news of their request at once; news of another request, or a call of another reason (nobody at home
twice), is never folded into it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from bippop.accounts.models import Person
from bippop.aid.models import CoordinatorTask, HelpRequest
from bippop.aid.notices import NO_SHOW_NOTE, call_task
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import make_tenant


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    return make_tenant(settings, "appels", "Appelville")


def open_calls(
    resources: PlatformResources, town: TenantRef, person_id: uuid.UUID
) -> list[tuple[uuid.UUID | None, str | None]]:
    with resources.tenant_session(town) as session:
        rows = session.execute(
            select(CoordinatorTask.request_id, CoordinatorTask.note).where(
                CoordinatorTask.person_id == person_id,
                CoordinatorTask.kind == "call_person",
                CoordinatorTask.status == "open",
            )
        )
        return sorted(rows.tuples().all(), key=str)


def test_news_joins_the_open_call_of_its_request_only(resources: PlatformResources, town: TenantRef) -> None:
    person_id, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with resources.tenant_session(town) as session, session.begin():
        session.add(Person(id=person_id, display_name="Lucien", roles=["beneficiary"]))
        session.flush()
        for request_id in (first, second):
            session.add(
                HelpRequest(
                    id=request_id,
                    module="visits",
                    beneficiary_id=person_id,
                    created_as="coordinator",
                    status="open",
                )
            )
    with resources.tenant_session(town) as session, session.begin():
        call_task(session, person_id, "request_created_for_you", request_id=first, dedupe_key=f"a:{first}")
        call_task(session, person_id, "request_matched", request_id=first, dedupe_key=f"b:{first}")
        call_task(session, person_id, "request_cancelled", request_id=second, dedupe_key=f"c:{second}")
    calls = open_calls(resources, town, person_id)
    assert sorted(request for request, _note in calls) == sorted([first, second])  # one per request

    # A call because two visits found nobody at home keeps its own reason; news gets a call of its own.
    with resources.tenant_session(town) as session, session.begin():
        for task in session.scalars(select(CoordinatorTask).where(CoordinatorTask.person_id == person_id)):
            task.status = "done"
        session.add(
            CoordinatorTask(
                id=uuid.uuid4(),
                kind="call_person",
                person_id=person_id,
                request_id=first,
                note=NO_SHOW_NOTE,
                status="open",
            )
        )
    with resources.tenant_session(town) as session, session.begin():
        call_task(session, person_id, "request_cancelled", request_id=first, dedupe_key=f"d:{first}")
    notes = [note for _request, note in open_calls(resources, town, person_id)]
    assert sorted(map(str, notes)) == sorted([NO_SHOW_NOTE, "request_cancelled"])
