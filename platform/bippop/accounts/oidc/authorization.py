"""Sending a person to the provider: the one return address, the authorization URL with a fresh
``state`` and ``nonce`` (PKCE when offered), and the one-time record of the sign-in in progress
(Redis, tenant-scoped, read once)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from redis.asyncio import Redis

from bippop.accounts.oidc.discovery import directory
from bippop.accounts.oidc.providers import SsoConfig
from bippop.config import Settings
from bippop.tenants.context import TenantRef, tenant_cache_key
from bippop.tenants.urls import tenant_url

# A sign-in in progress (Redis, one use) ----------------------------------------------------

PENDING_SECONDS = 10 * 60


@dataclasses.dataclass(frozen=True, slots=True)
class PendingSignIn:
    provider: str
    nonce: str
    next_url: str
    code_verifier: str | None
    redirect_uri: str


def pending_key(tenant: TenantRef, state: str) -> str:
    return tenant_cache_key("oidc", hashlib.sha256(state.encode()).hexdigest(), tenant=tenant)


async def save_pending(redis: Redis, tenant: TenantRef, state: str, pending: PendingSignIn) -> None:
    await redis.set(pending_key(tenant, state), json.dumps(dataclasses.asdict(pending)), ex=PENDING_SECONDS)


async def pop_pending(redis: Redis, tenant: TenantRef, state: str) -> PendingSignIn | None:
    """The sign-in ``state`` stands for on this tenant, read once: a second use finds nothing."""
    if not state or len(state) > 200:
        return None
    raw = await redis.getdel(pending_key(tenant, state))
    if raw is None:
        return None
    try:
        return PendingSignIn(**json.loads(raw))
    except (TypeError, ValueError):
        return None


# The flow ---------------------------------------------------------------------------------


def redirect_uri(tenant: TenantRef, provider_slug: str, settings: Settings) -> str:
    """The one return address to declare at the provider: on the tenant's registered address, never
    the request's host."""
    return tenant_url(tenant, f"/connexion/{provider_slug}/retour", settings)


async def authorization_url(
    config: SsoConfig, redirect_uri: str, next_url: str
) -> tuple[str, str, PendingSignIn]:
    """Where to send the person: the provider's authorization endpoint, with a fresh ``state`` and
    ``nonce`` (and PKCE when the provider offers it). Returns (url, state, what to keep until
    they come back)."""
    metadata = await directory.metadata(config.issuer)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    use_pkce = "S256" in (metadata.get("code_challenge_methods_supported") or [])
    verifier = secrets.token_urlsafe(48) if use_pkce else None
    url = prepare_grant_uri(
        metadata["authorization_endpoint"],
        client_id=config.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=" ".join(config.provider.scopes),
        state=state,
        nonce=nonce,
        acr_values=config.provider.acr,
        code_challenge=create_s256_code_challenge(verifier) if verifier else None,
        code_challenge_method="S256" if verifier else None,
    )
    return url, state, PendingSignIn(config.provider.slug, nonce, next_url, verifier, redirect_uri)
