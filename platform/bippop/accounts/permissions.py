"""The permission matrix (role × action) and the guard every controller uses.

One table, here; ``docs/permissions.md`` shows the same table and a test checks that the two
agree, that every route of a tenant or the co-op console either names an action or is declared
public, and, entry by entry, that each role gets exactly what the matrix says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from bippop.accounts.models import ROLES
from bippop.accounts.staff_models import STAFF_ROLES

ALL_TENANT_ROLES = frozenset(ROLES)
STAFF = frozenset({"coordinator", "tenant_admin"})

# action → roles allowed. Tenant actions name tenant roles; ``coop.*`` actions name co-op staff roles.
PERMISSIONS: dict[str, frozenset[str]] = {
    "account.manage": ALL_TENANT_ROLES,
    "people.view": STAFF,
    "people.invite": STAFF,
    "people.manage_roles": frozenset({"tenant_admin"}),
    "mandates.manage": STAFF,
    "mandates.view_own": frozenset({"relative", "beneficiary"}),
    "audit.browse": frozenset({"tenant_admin"}),
    "requests.ask": frozenset({"beneficiary", "relative"}),
    "volunteering": frozenset({"volunteer"}),
    "requests.intake": frozenset({"partner", "coordinator", "tenant_admin"}),
    "requests.triage": STAFF,
    "people.vet": STAFF,
    "concerns.report": ALL_TENANT_ROLES,
    "concerns.handle": STAFF,
    "modules.configure": frozenset({"tenant_admin"}),
    "modules.export": frozenset({"partner", "coordinator", "tenant_admin"}),
    "appearance.edit": frozenset({"tenant_admin"}),
    "legal.edit": frozenset({"tenant_admin"}),
    "onboarding.checklist": frozenset({"tenant_admin"}),
    "billing.invoices": frozenset({"tenant_admin"}),
    "coop.console": frozenset(STAFF_ROLES),
    "coop.account": frozenset(STAFF_ROLES),
    "coop.tenants": frozenset(STAFF_ROLES),  # tenant pages, lifecycle, domains, support notes
    "coop.audit": frozenset(STAFF_ROLES),
    "coop.billing": frozenset(STAFF_ROLES),  # invoices, payments, Chorus Pro, revenue
    "coop.plans": frozenset({"coop_admin"}),
    "coop.staff": frozenset({"coop_admin"}),
}

CORE_PERMISSIONS = dict(PERMISSIONS)

# Who may invite whom: a coordinator brings in volunteers, partners and other coordinators' helpers;
# only a tenant administrator makes coordinators and administrators.
INVITABLE_ROLES: dict[str, frozenset[str]] = {
    "coordinator": frozenset({"volunteer", "partner", "beneficiary", "relative"}),
    "tenant_admin": ALL_TENANT_ROLES,
}

# Routes of these actions stay reachable while a person must still set up the second factor.
DURING_MFA_ENROLLMENT = frozenset({"account.manage", "coop.account"})


def use_module_actions(actions: Mapping[str, frozenset[str]]) -> None:
    """The installed service modules' actions join the matrix (``modules.assembly.prepare``), replacing
    those of modules registered before; a module cannot take or change an action of the core."""
    for action, roles in actions.items():
        if action in CORE_PERMISSIONS:
            raise ValueError(f"{action} is an action of the core")
        if not roles <= ALL_TENANT_ROLES:
            raise ValueError(f"{action}: unknown roles {sorted(roles - ALL_TENANT_ROLES)}")
    PERMISSIONS.clear()  # in place: guards and pages hold this very dict
    PERMISSIONS.update(CORE_PERMISSIONS)
    PERMISSIONS.update(actions)


def unknown_actions(actions: Iterable[str]) -> list[str]:
    """The actions guards name that the matrix does not hold (checked once the app is assembled)."""
    return sorted(set(actions) - set(PERMISSIONS))


def allowed(roles: tuple[str, ...] | list[str] | frozenset[str], action: str) -> bool:
    return bool(PERMISSIONS[action].intersection(roles))


def invitable_roles(roles: tuple[str, ...] | list[str]) -> frozenset[str]:
    result: frozenset[str] = frozenset()
    for role in roles:
        result |= INVITABLE_ROLES.get(role, frozenset())
    return result


class Requires:
    """A Litestar guard: the request's identity must hold a role the matrix allows for ``action``.

    Nobody signed in: 401 (the error handler sends a browser to the sign-in page and keeps the
    form). Signed in without the right: 403.
    """

    def __init__(self, action: str) -> None:
        # A module's actions join the matrix when the app is assembled, after its controllers are
        # defined: ``create_app`` refuses to start with a guard naming an action the matrix lacks.
        self.action = action

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        identity = connection.scope["state"].get("identity")
        if identity is None:
            from litestar import Request

            from bippop.web.errors import sign_in_location

            if not isinstance(connection, Request):
                raise NotAuthorizedException()
            location, owner = await sign_in_location(connection)
            raise NotAuthorizedException(extra={"location": location, "draft_owner": owner})
        staff_action = self.action.startswith("coop.")
        if (identity.kind == "staff") != staff_action:
            raise PermissionDeniedException()
        if identity.must_enroll_mfa and self.action not in DURING_MFA_ENROLLMENT:
            raise PermissionDeniedException(detail="mfa_enrollment")
        if not allowed(identity.roles, self.action):
            raise PermissionDeniedException()

    def __repr__(self) -> str:
        return f"Requires({self.action!r})"


def requires(action: str) -> Requires:
    return Requires(action)
