"""Console pages: one tenant (``/collectivites/{slug}``) — its page, support notes, custom domains, and
its lifecycle actions, each a confirmation page (GET) and the action (POST): suspend, reactivate,
export, delete, move, resend the administrator's invitation (changing its plan: ``plan_change``).
Parse, one use case, render or redirect;
after the commit, the host cache is cleared, the job enqueued or the mail announced."""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts.permissions import requires
from bippop.coop import lifecycle_jobs
from bippop.coop.console import plan_change
from bippop.coop.console.common import COOP_ONLY, current_staff, signed_out
from bippop.coop.services import lifecycle
from bippop.coop.services.lifecycle import ActionOutcome
from bippop.coop.services.tenant_page import find_tenant, overview
from bippop.coop.services.tenants import status_label
from bippop.outbox.after_commit import announce
from bippop.tenants.models import KIND_LABELS, Tenant
from bippop.web.forms import first_text
from bippop.web.pages import render

FormData = URLEncodedBody[dict[str, Any]]
# The actions' paths (French, as the console's) → their verbs.
ACTIONS = {
    "suspendre": "suspend",
    "reactiver": "reactivate",
    "exporter": "export",
    "supprimer": "delete",
    "deplacer": "move",
    "inviter": "invite",
}
PATHS = {verb: path for path, verb in ACTIONS.items()}


def _tenant_session(request: Request[Any, Any, Any]) -> Any:
    """A session scoped to a tenant, on its cluster (its administrators live in its own schema)."""
    sessions, settings = request.app.state.cluster_sessions, request.app.state.settings

    def opened(tenant: Tenant) -> Any:
        ref = tenant.ref()
        return sessions[ref.cluster](info={"tenant": ref, "settings": settings})

    return opened


async def _tenant(db_session: AsyncSession, slug: str) -> Tenant:
    tenant = await find_tenant(db_session, slug)
    if tenant is None:
        raise NotFoundException()
    return tenant


def _tenant_url(tenant: Tenant, done: str | None = None) -> str:
    return f"/collectivites/{tenant.slug}" + (f"?fait={done}" if done else "")


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    tenant: Tenant,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    seen = await overview(db_session, tenant, _tenant_session(request), clock.now())
    context = {
        "seen": seen,
        "errors": errors or {},
        "values": values or {},
        "done": request.query_params.get("fait", ""),
        "paths": PATHS,
        "status_label": status_label(tenant.status),
        "kind_label": KIND_LABELS.get(tenant.kind, tenant.kind),
        "base_domain": request.app.state.settings.base_domain,
    }
    return render(request, "coop/tenants/tenant.html", context, status_code=status)


async def _after(request: Request[Any, Any, Any], db_session: AsyncSession, outcome: ActionOutcome) -> None:
    """Commit, then what may only follow a commit: the host cache, the job, the mail."""
    await db_session.commit()
    if outcome.hosts:
        await request.app.state.resolver.cache.invalidate(outcome.hosts)
    if outcome.job is not None:
        job = outcome.job
        await anyio.to_thread.run_sync(lambda: lifecycle_jobs.enqueue(job))
    if outcome.messages and outcome.tenant is not None:
        await announce(request.app.state.redis, outcome.tenant, outcome.messages)


def _confirm_page(
    request: Request[Any, Any, Any],
    tenant: Tenant,
    verb: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    settings = request.app.state.settings
    context = {
        "subject": tenant,  # ``tenant`` is the layout's: the site's own tenant (none here)
        "status_label": status_label(tenant.status),
        "verb": verb,
        "action_path": f"/collectivites/{tenant.slug}/{PATHS[verb]}",
        "clusters": lifecycle.other_clusters(tenant, settings),
        "errors": errors or {},
        "values": values or {"grace_days": str(lifecycle.DEFAULT_GRACE_DAYS)},
    }
    return render(request, "coop/tenants/confirm.html", context, status_code=status)


class TenantPageController(Controller):
    path = "/collectivites"
    guards = [requires("coop.tenants")]

    @get("/{slug:str}", opt=COOP_ONLY, name="coop-tenant")
    async def show(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], slug: FromPath[str]
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        return await _page(request, db_session, await _tenant(db_session, slug))

    @post("/{slug:str}/notes", opt=COOP_ONLY)
    async def add_note(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        tenant = await _tenant(db_session, slug)
        body = first_text(data, "body")
        outcome = await lifecycle.add_note(db_session, tenant, staff, body)
        if not outcome.done:
            return await _page(
                request, db_session, tenant, errors=outcome.errors, values={"body": body}, status=400
            )
        await _after(request, db_session, outcome)
        return Redirect(_tenant_url(tenant, "note") + "#notes", status_code=303)

    @post("/{slug:str}/domaines", opt=COOP_ONLY)
    async def add_domain(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        tenant = await _tenant(db_session, slug)
        hostname = first_text(data, "domain").strip()
        settings = request.app.state.settings
        outcome = await lifecycle.add_domain(db_session, tenant, staff, hostname, settings)
        if not outcome.done:
            await db_session.rollback()
            tenant = await _tenant(db_session, slug)
            errors, values = outcome.errors, {"domain": hostname}
            return await _page(request, db_session, tenant, errors=errors, values=values, status=400)
        await _after(request, db_session, outcome)
        return Redirect(_tenant_url(tenant, "domain_add") + "#domains", status_code=303)

    @get("/{slug:str}/domaines/{domain_id:uuid}", opt=COOP_ONLY)
    async def confirm_domain_removal(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        domain_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        if await current_staff(request, db_session) is None:
            return await signed_out(request)
        tenant = await _tenant(db_session, slug)
        domain = next((d for d in tenant.domains if d.id == domain_id), None)
        if domain is None:
            raise NotFoundException()
        context = {"subject": tenant, "domain": domain}
        return render(request, "coop/tenants/remove_domain.html", context)

    @post("/{slug:str}/domaines/{domain_id:uuid}", opt=COOP_ONLY)
    async def remove_domain(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        domain_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        tenant = await _tenant(db_session, slug)
        settings = request.app.state.settings
        outcome = await lifecycle.remove_domain(db_session, tenant, staff, domain_id, settings)
        if not outcome.done:
            raise NotFoundException()
        await _after(request, db_session, outcome)
        return Redirect(_tenant_url(tenant, "domain_remove") + "#domains", status_code=303)

    @get("/{slug:str}/{action:str}", opt=COOP_ONLY)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        action: FromPath[str],
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        if action not in ACTIONS:
            raise NotFoundException()
        return _confirm_page(request, await _tenant(db_session, slug), ACTIONS[action])

    @post("/{slug:str}/{action:str}", opt=COOP_ONLY)
    async def perform(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        action: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        if action not in ACTIONS:
            raise NotFoundException()
        tenant, verb = await _tenant(db_session, slug), ACTIONS[action]
        settings = request.app.state.settings
        outcome = await lifecycle.perform(
            db_session, verb, tenant, staff, data, settings, _tenant_session(request)
        )
        if not outcome.done:
            values = {name: first_text(data, name) for name in ("grace_days", "cluster", "email")}
            errors = outcome.errors
            return _confirm_page(request, tenant, verb, errors=errors, values=values, status=400)
        await _after(request, db_session, outcome)
        return Redirect(_tenant_url(tenant, verb), status_code=303)


CONTROLLERS: list[Any] = [TenantPageController, *plan_change.CONTROLLERS]  # « change plan »: its own module
