"""The resident portal, one file per sub-domain:

- ``ask``: asking for help (for oneself or, under a mandate, for a parent; signed out, the three ways
  to ask); ``my_requests``: following one's requests (cancel, pause, feedback, messages);
- ``become_volunteer``: a signed-in resident's « I want to help »;
- ``volunteer``: the volunteer's dashboard (requests near me, what comes next, calendar feed);
  ``volunteer_requests``: pop, decline, appointments, withdraw, messages; ``visit_reports``;
  ``availability``;
- ``concerns`` ("report a concern", linked from every page for people signed in);
- ``common``: what they share.

Pages are plain forms that work without JavaScript; every error is shown next to its field; a
form sent after the session ended comes back filled in (``take_draft``).
"""

from __future__ import annotations

from bippop.aid.portal.ask import AskController, AskStartController
from bippop.aid.portal.availability import AvailabilityController
from bippop.aid.portal.become_volunteer import BecomeVolunteerController
from bippop.aid.portal.concerns import ConcernController
from bippop.aid.portal.my_requests import MyRequestsController
from bippop.aid.portal.visit_reports import VisitReportsController
from bippop.aid.portal.volunteer import VolunteerController
from bippop.aid.portal.volunteer_requests import VolunteerRequestsController

PORTAL_CONTROLLERS = [
    AskStartController,
    AskController,
    BecomeVolunteerController,
    MyRequestsController,
    VolunteerController,
    VolunteerRequestsController,
    VisitReportsController,
    AvailabilityController,
    ConcernController,
]

__all__ = ["PORTAL_CONTROLLERS"]
