"""The staff pages' navigation: the links a staff member may open, put into each page's context."""

from __future__ import annotations

import dataclasses
from typing import Any

from bippop.accounts.auth import Identity
from bippop.accounts.permissions import allowed
from bippop.web.i18n import _, role_label


@dataclasses.dataclass(frozen=True)
class NavLink:
    path: str
    label: str


def admin_links(identity: Identity) -> list[NavLink]:
    """The staff pages this person may open, for the navigation at the top of each."""
    links = [
        ("onboarding.checklist", "/gestion/premiers-pas", _("First steps")),
        ("people.view", "/gestion/personnes", _("People")),
        ("people.invite", "/gestion/invitations", _("Invitations")),
        ("mandates.manage", "/gestion/mandats", _("Mandates")),
        ("audit.browse", "/gestion/journal", _("Audit log")),
        ("appearance.edit", "/gestion/apparence", _("Appearance")),
        ("legal.edit", "/gestion/pages-legales", _("Legal pages")),
    ]
    return [NavLink(path, label) for action, path, label in links if allowed(identity.roles, action)]


def staff_context(identity: Identity, context: dict[str, Any]) -> dict[str, Any]:
    """``context`` with what every staff page's layout shows (its navigation, role names)."""
    return {"admin_links": admin_links(identity), "role_label": role_label, **context}
