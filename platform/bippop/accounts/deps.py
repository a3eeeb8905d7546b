"""What the accounts pages (and the other domains' pages) take from a request: the signed-in person and
identity (as Litestar dependencies), and ``AccountsRequest``, the little the use cases need from the
web — the tenant, the attempt counters for this address, links on the tenant's own address, and the
session store."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.auth import Identity, current_identity, session_store
from bippop.accounts.models import Person
from bippop.accounts.rate_limits import RateLimiter
from bippop.accounts.sessions import SessionStore
from bippop.config import Settings
from bippop.tenants.context import TenantRef
from bippop.tenants.urls import tenant_url
from bippop.web.addresses import client_address
from bippop.web.deps import PAGE_DEPENDENCIES, tenant_of


async def signed_in_person(request: Request[Any, Any, Any], db_session: AsyncSession) -> Person:
    """The person signed in on this request (routes guarded by ``requires``); a session whose person
    no longer exists means signing in again."""
    identity = current_identity(request)
    person = await db_session.get(Person, identity.person_id) if identity is not None else None
    if person is None:
        raise NotAuthorizedException()
    return person


def signed_in_identity(request: Request[Any, Any, Any]) -> Identity:
    """The identity of a request a guard has let through (only signed-in people pass)."""
    identity = current_identity(request)
    assert identity is not None
    return identity


@dataclasses.dataclass(frozen=True)
class AccountsRequest:
    tenant: TenantRef
    settings: Settings
    limiter: RateLimiter
    address: str | None
    sessions: SessionStore

    async def hit(self, action: str, account: str | None) -> str | None:
        """Count an attempt; the refusal's message when the limit is reached."""
        refusal = await anyio.to_thread.run_sync(
            lambda: self.limiter.hit(action, tenant_id=self.tenant.id, account=account, address=self.address)
        )
        return refusal.message if refusal else None

    async def forget(self, action: str, account: str | None) -> None:
        """A success: the attempt no longer counts against the address, nor (given) the account's failures."""
        await anyio.to_thread.run_sync(
            lambda: self.limiter.succeeded(
                action, tenant_id=self.tenant.id, account=account, address=self.address
            )
        )

    def link(self, token: str) -> str:
        # The tenant's registered address, never the Host header: a forged one would receive the secret.
        return tenant_url(self.tenant, f"/lien/{token}", self.settings)


def accounts_request(request: Request[Any, Any, Any]) -> AccountsRequest:
    return AccountsRequest(
        tenant=tenant_of(request),
        settings=request.app.state.settings,
        limiter=request.app.state.rate_limiter,
        address=client_address(request),
        sessions=session_store(request),
    )


async def provide_person(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
) -> Person:
    # After ``locale``: Litestar resolves independent dependencies concurrently, and one database
    # session must not run two queries at once.
    return await signed_in_person(request, db_session)


async def provide_identity(request: Request[Any, Any, Any]) -> Identity:
    return signed_in_identity(request)


async def provide_accounts_request(request: Request[Any, Any, Any]) -> AccountsRequest:
    return accounts_request(request)


# What a guarded page asks for by name: ``person``, ``identity``, ``locale``, ``caller``.
SIGNED_IN_DEPENDENCIES = {
    **PAGE_DEPENDENCIES,
    "person": Provide(provide_person),
    "identity": Provide(provide_identity),
}
PUBLIC_DEPENDENCIES = {**PAGE_DEPENDENCIES, "caller": Provide(provide_accounts_request)}
