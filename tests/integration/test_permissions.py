"""The permission matrix: the doc's table is PERMISSIONS, every route names an action or is public, and,
entry by entry, each role gets exactly what the matrix says on the tenant's pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from bippop.accounts import mfa
from bippop.accounts.models import ROLES
from bippop.accounts.permissions import DURING_MFA_ENROLLMENT, PERMISSIONS, Requires
from bippop.accounts.staff_models import STAFF_ROLES
from bippop.app import create_app
from bippop.config import Settings
from bippop.modules.registry import installed_modules
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import (
    BASE_DOMAIN,
    host,
    log_in,
    make_person,
    make_tenant,
)

SLUG = "droits-tests"
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def rights_tenant(settings: Settings) -> TenantRef:
    """A tenant of this module's own: its sign-in counters are not shared with other tests'."""
    return make_tenant(settings, SLUG, "Droitville")


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(
        create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}
    ) as client:
        yield client


# --- the route table -----------------------------------------------------------------------------


def _handlers(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                # Litestar adds an OPTIONS handler to every path; it answers with the allowed methods only.
                if handler.handler_name == "options_handler" and handler.http_methods == {"OPTIONS"}:
                    continue
                yield route.path, handler


def _sites(handler: HTTPRouteHandler) -> set[str]:
    sites = handler.opt.get("sites", ("tenant",))
    return {"public", "coop", "tenant"} if sites == "any" else set(sites)


def _actions(handler: HTTPRouteHandler) -> list[str]:
    return [guard.action for guard in handler.resolve_guards() if isinstance(guard, Requires)]


def _excluded(path: str) -> bool:
    """Static files: served on every host (``sites="any"``), they hold nothing of a tenant."""
    return path.startswith("/static/")


def tenant_pages(app: Litestar) -> dict[str, str]:
    """action → one GET page of a tenant guarded by it (without path parameters), the first by path."""
    pages: dict[str, str] = {}
    for path, handler in sorted(_handlers(app), key=lambda item: item[0]):
        if "GET" in handler.http_methods and "tenant" in _sites(handler) and "{" not in path:
            for action in _actions(handler):
                pages.setdefault(action, path)
    return pages


def test_every_route_names_an_action_or_is_public(settings: Settings) -> None:
    app = create_app(settings)
    unguarded, mismatched = [], []
    for path, handler in _handlers(app):
        sites = _sites(handler)
        if _excluded(path) or not sites & {"tenant", "coop"}:
            continue
        label = f"{'/'.join(sorted(handler.http_methods))} {path}"
        actions = _actions(handler)
        if not actions and handler.opt.get("public") is not True:
            unguarded.append(label)
        for action in actions:
            # A tenant page naming a co-op action (or the reverse) would refuse everyone.
            if action.startswith("coop.") != (sites == {"coop"}):
                mismatched.append(f"{label}: {action}")
    assert not unguarded, f"routes with neither requires(...) nor opt public=True: {sorted(unguarded)}"
    assert not mismatched, f"routes naming an action of the other kind of site: {sorted(mismatched)}"


def test_the_documented_matrix_is_the_code(repo_root: Path) -> None:
    lines = (repo_root / "docs" / "permissions.md").read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("| Action |"))
    columns = [cell.strip().strip("`") for cell in header.strip().strip("|").split("|")]
    roles = columns[2:]
    assert roles == [*ROLES, *STAFF_ROLES]
    documented: dict[str, frozenset[str]] = {}
    descriptions: dict[str, str] = {}
    for line in lines:
        found = re.match(r"\| `([a-z_.]+)` \|", line)
        if not found:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == len(columns), line
        assert cells[1], f"{found.group(1)} has no description"
        assert set(cells[2:]) <= {"✓", ""}, line
        assert found.group(1) not in documented, f"{found.group(1)} twice"
        documented[found.group(1)] = frozenset(r for r, cell in zip(roles, cells[2:], strict=True) if cell)
        descriptions[found.group(1)] = cells[1]
    assert documented == PERMISSIONS
    # A module's rows are its manifest's: roles (above) and what they allow, word for word.
    declared = {p.action: p.description for m in installed_modules().values() for p in m.permissions}
    assert declared and {a: descriptions[a] for a in declared} == declared


# --- entry by entry ------------------------------------------------------------------------------


def sign_in(
    web: TestClient[Litestar],
    resources: PlatformResources,
    tenant: TenantRef,
    roles: list[str],
    *,
    totp: bool,
) -> uuid.UUID:
    person_id, email, secret = make_person(resources, tenant, roles, totp=totp)
    log_in(web, SLUG, email, secret)
    return person_id


def _statuses(web: TestClient[Litestar], pages: dict[str, str]) -> dict[str, Any]:
    return {
        action: web.get(path, headers={**host(SLUG), **HTML}, follow_redirects=False).status_code
        for action, path in pages.items()
    }


# Actions guarding only forms (POST): exercised by sending the form about an id that does not exist,
# which the guard refuses (403) or lets through to a "not found" (404).
POST_ONLY = {
    "people.manage_roles": "/gestion/personnes/{id}/roles",
    "events.join": "/evenements/{id}/inscription",
}


def test_every_tenant_action_with_a_page_is_exercised(settings: Settings) -> None:
    pages = tenant_pages(create_app(settings))
    # Every tenant action has a page to open, or a form exercised below.
    assert set(pages) == {a for a in PERMISSIONS if not a.startswith("coop.")} - set(POST_ONLY)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_the_matrix_says_on_forms(
    web: TestClient[Litestar], resources: PlatformResources, rights_tenant: TenantRef, role: str
) -> None:
    sign_in(web, resources, rights_tenant, [role], totp=mfa.mfa_required([role]))
    token = web.cookies.get("csrftoken")
    for action, template in POST_ONLY.items():
        path = template.format(id=uuid.uuid4())
        response = web.post(
            path,
            data={"_csrf_token": token, "roles": "volunteer"},
            headers={**host(SLUG), **HTML},
            follow_redirects=False,
        )
        assert response.status_code == (404 if role in PERMISSIONS[action] else 403), (
            action,
            role,
            response.status_code,
        )


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_the_matrix_says(
    web: TestClient[Litestar], resources: PlatformResources, rights_tenant: TenantRef, role: str
) -> None:
    pages = tenant_pages(web.app)
    sign_in(web, resources, rights_tenant, [role], totp=mfa.mfa_required([role]))
    expected = {action: 200 if role in PERMISSIONS[action] else 403 for action in pages}
    assert _statuses(web, pages) == expected


def test_nobody_signed_in_is_sent_to_the_sign_in_page(
    web: TestClient[Litestar], rights_tenant: TenantRef
) -> None:
    for action, path in tenant_pages(web.app).items():
        response = web.get(path, headers={**host(SLUG), **HTML}, follow_redirects=False)
        assert response.status_code == 303, action
        assert response.headers["location"] == "/connexion?next_url=" + quote(path, safe=""), action


@pytest.mark.parametrize("role", ["coordinator", "tenant_admin"])
def test_without_the_second_factor_only_the_account_pages_open(
    web: TestClient[Litestar], resources: PlatformResources, rights_tenant: TenantRef, role: str
) -> None:
    pages = tenant_pages(web.app)
    sign_in(web, resources, rights_tenant, [role], totp=False)
    expected = {
        action: 200 if action in DURING_MFA_ENROLLMENT and role in PERMISSIONS[action] else 403
        for action in pages
    }
    assert _statuses(web, pages) == expected
    refused = web.get(pages["people.view"], headers={**host(SLUG), **HTML})
    assert "One more step to protect your account" in refused.text
    assert 'href="/compte/double-authentification"' in refused.text


def test_staff_pages_do_not_exist_on_the_coop_host(web: TestClient[Litestar]) -> None:
    for path in ("/gestion/personnes", "/gestion/invitations", "/gestion/mandats", "/gestion/journal"):
        assert web.get(path, headers=host(f"coop.{BASE_DOMAIN}")).status_code == 404
