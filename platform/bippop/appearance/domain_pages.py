"""``/gestion/apparence/domaines``: the portal's own domain names — add one, read how to prove it by DNS,
verify, make it the main address, remove it. Parse, one use case (``domains``), render or redirect."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.admin.navigation import staff_context
from bippop.accounts.auth import Identity
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.permissions import requires
from bippop.appearance import domains
from bippop.appearance.registry import TenantRegistry
from bippop.web.forms import FormData, form_fields
from bippop.web.pages import render_page

PATH = "/gestion/apparence/domaines"


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    identity: Identity,
    *,
    outcome: domains.DomainOutcome | None = None,
    status: int = 200,
) -> Response[str]:
    registry = TenantRegistry.of(request)
    listed = await registry.read(domains.views)
    context = {
        "domains": listed,
        "values": {"domain": outcome.hostname if outcome and not outcome.done else ""},
        "errors": outcome.errors if outcome else {},
        "check": outcome.message if outcome else "",
        "checked": outcome.hostname if outcome else "",
        "done": request.query_params.get("done", ""),
        "done_domain": request.query_params.get("domain", ""),
        "subdomain": f"{registry.tenant.slug}.{registry.settings.base_domain}",
    }
    return await render_page(
        request, db_session, "appearance/domains.html", staff_context(identity, context), status
    )


def _after(outcome: domains.DomainOutcome, done: str) -> Redirect:
    return Redirect(f"{PATH}?" + urlencode({"done": done, "domain": outcome.hostname}), status_code=303)


async def _answer(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    identity: Identity,
    outcome: domains.DomainOutcome,
    done: str,
    refused_status: int,
) -> Response[Any]:
    """What an action on one domain answers: 404 when the tenant has no such domain, the page with the
    refusal, or back to the list saying what was ``done``."""
    if outcome.missing:
        raise NotFoundException()
    if not outcome.done:
        return await _page(request, db_session, identity, outcome=outcome, status=refused_status)
    return _after(outcome, done)


class DomainsController(Controller):
    path = PATH
    dependencies = SIGNED_IN_DEPENDENCIES
    guards = [requires("appearance.edit")]

    @get("/", name="appearance-domains")
    async def list_domains(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
    ) -> Response[str]:
        return await _page(request, db_session, identity)

    @post("/")
    async def add(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        data: FormData,
    ) -> Response[Any]:
        hostname = form_fields(data).get("domain", "")
        outcome = await domains.add_domain(
            db_session, TenantRegistry.of(request), identity.person_id, hostname
        )
        if not outcome.done:
            return await _page(request, db_session, identity, outcome=outcome, status=400)
        return _after(outcome, "added")

    @post("/{domain_id:uuid}/verifier")
    async def verify(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        domain_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        registry = TenantRegistry.of(request)
        outcome = await domains.verify_domain(db_session, registry, identity.person_id, domain_id)
        # A failed check is no mistake in a form: the page says what the DNS answered.
        return await _answer(request, db_session, identity, outcome, "verified", refused_status=200)

    @post("/{domain_id:uuid}/principal")
    async def make_primary(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        domain_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        outcome = await domains.set_primary(
            db_session, TenantRegistry.of(request), identity.person_id, domain_id
        )
        return await _answer(request, db_session, identity, outcome, "primary", refused_status=400)

    @post("/{domain_id:uuid}/supprimer")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        identity: NamedDependency[Identity],
        locale: NamedDependency[str],
        domain_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        outcome = await domains.remove_domain(
            db_session, TenantRegistry.of(request), identity.person_id, domain_id
        )
        return await _answer(request, db_session, identity, outcome, "removed", 400)
