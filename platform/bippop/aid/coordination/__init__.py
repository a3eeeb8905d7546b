"""The coordinator's side of help requests, and partner agents' intake, one file per sub-domain:

- ``intake``: ``/coordination/appel``, a request heard on the phone;
- ``requests`` (with ``steps``, its actions): ``/coordination/demandes``;
- ``tasks`` and ``concerns``: ``/coordination/taches`` and ``/coordination/signalements``;
- ``volunteers``: ``/coordination/benevoles``, vetting, skills and languages;
- ``modules`` and ``module_settings``: ``/coordination/modules`` (switched on, and each one's settings);
  ``exports``: ``/coordination/exports`` (what the modules export);
- ``common`` and ``labels``: what the pages share.

Every handler names its action from the permission matrix. Everything is read in the request's tenant
schema, so another tenant's id finds nothing: 404. Forms work without JavaScript (post, then redirect
with a short confirmation); htmx only spares a reload (live search, a service's questions). Each error
is shown next to its field, with a summary at the top.
"""

from __future__ import annotations

from bippop.aid.coordination.common import coordination_page, paris_moment
from bippop.aid.coordination.concerns import ConcernsController
from bippop.aid.coordination.exports import ExportsController
from bippop.aid.coordination.intake import IntakeController
from bippop.aid.coordination.module_settings import ModuleSettingsController
from bippop.aid.coordination.modules import ModulesController
from bippop.aid.coordination.requests import RequestsController
from bippop.aid.coordination.tasks import TasksController
from bippop.aid.coordination.volunteers import VolunteersController
from bippop.aid.services.tasks import concern_reported

COORDINATION_CONTROLLERS = [
    IntakeController,
    RequestsController,
    TasksController,
    ConcernsController,
    VolunteersController,
    ModulesController,
    ModuleSettingsController,
    ExportsController,
]

__all__ = ["COORDINATION_CONTROLLERS", "concern_reported", "coordination_page", "paris_moment"]
