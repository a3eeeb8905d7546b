"""The tenant staff's pages for accounts, one module per sub-domain: ``people`` (people and their
roles), ``invitations``, ``mandates`` (relatives' mandates, and the page where relatives and
beneficiaries see their own) and ``audit_log``; ``navigation`` is what every staff page shows.

Every handler names its action from the permission matrix (accounts/permissions.py). Everything is
read in the request's tenant schema, so an id from another tenant finds nothing: 404. Forms work
without JavaScript (post, then redirect to the page with a status message) and show each error next
to its field, with a summary at the top. The rules live in ``accounts/services``.
"""

from bippop.accounts.admin.audit_log import AuditLogController
from bippop.accounts.admin.invitations import InvitationsController
from bippop.accounts.admin.mandates import MandatesController, OwnMandatesController
from bippop.accounts.admin.navigation import NavLink, admin_links, staff_context
from bippop.accounts.admin.people import PeopleController
from bippop.accounts.services.audit_log import action_labels, consent_labels

ADMIN_CONTROLLERS = [
    PeopleController,
    InvitationsController,
    MandatesController,
    OwnMandatesController,
    AuditLogController,
]

__all__ = [
    "ADMIN_CONTROLLERS",
    "NavLink",
    "action_labels",
    "admin_links",
    "consent_labels",
    "staff_context",
]
