"""Single sign-on through OpenID Connect: FranceConnect (residents) and ProConnect (agents).

What lives here, without any web framework: the two providers and what each may do, each tenant's
configuration (a ``Setting`` ``sso.<provider>``, client secret sealed), the cache of the providers'
discovery documents and signing keys (in process, a few minutes, keyed by issuer), the one-time
record of a sign-in in progress (Redis, tenant-scoped), the code exchange (authlib) and the checks
of the ID token (joserfc: signature against the provider's JWKS, ``iss``, ``aud``, ``exp``,
``iat``, ``nonce``, ``acr``) and of the userinfo answer. The pages are in ``accounts/sso.py``;
docs/sso.md tells the whole story.

Nothing here logs a token, a code, a secret or a claim about a person: failures carry a short
fixed ``reason`` that the caller logs.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import ipaddress
import json
import secrets
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import authlib.deprecate  # noqa: F401  (its warning filter first, so that ours below takes precedence)
import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop import sealing
from bippop.accounts.models import Setting
from bippop.config import Settings
from bippop.tenants.context import TenantRef, tenant_cache_key
from bippop.tenants.urls import tenant_url

with warnings.catch_warnings():
    # authlib prefers the ``httpx2`` fork and falls back to ``httpx`` (the one the project uses)
    # with a deprecation notice at import; the fallback is exactly what we want.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError


# Providers -------------------------------------------------------------------------------

EIDAS_LEVELS = ("eidas1", "eidas2", "eidas3")


@dataclasses.dataclass(frozen=True, slots=True)
class Provider:
    """One identity federation and what signing in through it may do on a tenant's portal."""

    slug: str
    label: str
    scopes: tuple[str, ...]
    acr: str  # the level asked for (``acr_values``); the ID token must show this level or a higher one
    family_name_claim: str
    creates_role: str | None  # a newcomer gets an account with this role; None: never creates one

    @property
    def accepted_acr(self) -> tuple[str, ...]:
        return EIDAS_LEVELS[EIDAS_LEVELS.index(self.acr) :]

    @property
    def setting_key(self) -> str:
        return f"sso.{self.slug}"


PROVIDERS: dict[str, Provider] = {
    provider.slug: provider
    for provider in (
        Provider(
            slug="franceconnect",
            label="FranceConnect",
            scopes=("openid", "email", "given_name", "family_name"),
            acr="eidas1",
            family_name_claim="family_name",
            creates_role="beneficiary",
        ),
        Provider(
            slug="proconnect",
            label="ProConnect",
            scopes=("openid", "email", "given_name", "usual_name"),
            acr="eidas1",
            family_name_claim="usual_name",
            creates_role=None,
        ),
    )
}


class SsoError(Exception):
    """A sign-in through a provider that cannot go on; ``reason`` is short, fixed and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Sealing secrets -------------------------------------------------------------------------


def unseal(sealed: str, secret_key: str, *, purpose: str) -> str:
    try:
        return sealing.unseal(sealed, secret_key, purpose=purpose)
    except sealing.SealError:
        raise SsoError("secret_unreadable") from None


# Per-tenant configuration ----------------------------------------------------------------

SEAL_PURPOSE = "sso-client-secret"


@dataclasses.dataclass(frozen=True, slots=True)
class SsoConfig:
    provider: Provider
    issuer: str
    client_id: str
    sealed_secret: str
    enabled: bool

    def client_secret(self, secret_key: str) -> str:
        return unseal(self.sealed_secret, secret_key, purpose=SEAL_PURPOSE)

    def as_value(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.sealed_secret,
            "enabled": self.enabled,
        }


def _config_from(provider: Provider, value: Any) -> SsoConfig | None:
    if not isinstance(value, dict):
        return None
    issuer, client_id, sealed = value.get("issuer"), value.get("client_id"), value.get("client_secret")
    if not (isinstance(issuer, str) and isinstance(client_id, str) and isinstance(sealed, str)):
        return None
    return SsoConfig(provider, issuer, client_id, sealed, value.get("enabled") is True)


async def load_config(session: AsyncSession, slug: str) -> SsoConfig | None:
    """This tenant's configuration of provider ``slug``, if it is enabled (else None)."""
    provider = PROVIDERS.get(slug)
    if provider is None:
        return None
    value = await session.scalar(select(Setting.value).where(Setting.key == provider.setting_key))
    config = _config_from(provider, value)
    return config if config is not None and config.enabled else None


async def enabled_providers(session: AsyncSession) -> list[Provider]:
    """The providers this tenant has turned on, in a stable order (for the sign-in page)."""
    keys = {provider.setting_key: provider for provider in PROVIDERS.values()}
    rows = await session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(keys)))
    enabled = {key for key, value in rows if (config := _config_from(keys[key], value)) and config.enabled}
    return [provider for key, provider in keys.items() if key in enabled]


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _acceptable_url(url: object) -> bool:
    """HTTPS; plain HTTP only towards this machine (tests, a local provider)."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))


def check_issuer(url: str) -> str:
    """An issuer URL as configured (kept exactly: ID tokens must name it character for character)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.query or parts.fragment or not _acceptable_url(url):
        raise ValueError(
            "l'émetteur doit être une adresse https://, par exemple https://fournisseur.example/api/v2"
        )
    return url


def write_config(
    session: Session,
    provider: Provider,
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    secret_key: str,
) -> SsoConfig:
    """Record (and enable) a provider for the tenant of ``session`` (a scoped, synchronous session)."""
    config = SsoConfig(
        provider,
        check_issuer(issuer),
        client_id.strip(),
        sealing.seal(client_secret, secret_key, purpose=SEAL_PURPOSE),
        True,
    )
    session.merge(Setting(key=provider.setting_key, value=config.as_value()))
    return config


def disable_config(session: Session, provider: Provider) -> bool:
    """Turn a provider off for the tenant of ``session``; the configuration is kept. False: none."""
    row = session.get(Setting, provider.setting_key)
    if row is None or not isinstance(row.value, dict):
        return False
    row.value = {**row.value, "enabled": False}
    return True


# Discovery and signing keys (cached in process, by issuer) ------------------------------

HTTP_TIMEOUT = httpx.Timeout(8.0, connect=4.0)
MAX_DOCUMENT_BYTES = 256 * 1024
ID_TOKEN_ALGORITHMS = ("RS256", "ES256", "PS256")
CLOCK_LEEWAY = 60


async def _get_json(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
        response = await client.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
        raise SsoError("document_unavailable")
    try:
        data = response.json()
    except ValueError:
        raise SsoError("document_not_json") from None
    if not isinstance(data, dict):
        raise SsoError("document_not_json")
    return data


@dataclasses.dataclass(slots=True)
class _Entry:
    metadata: dict[str, Any]
    fetched_at: float
    keys: KeySet | None = None
    keys_fetched_at: float = 0.0


class ProviderDirectory:
    """Discovery documents and key sets, by issuer, for ``ttl`` seconds; at most ``max_issuers``
    (least recently used dropped first), however many tenants point at the same providers."""

    def __init__(
        self, *, ttl: float = 300.0, max_issuers: int = 32, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_issuers = max_issuers
        self.clock = clock
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()

    def clear(self) -> None:
        self._entries.clear()

    def _fresh(self, issuer: str) -> _Entry | None:
        entry = self._entries.get(issuer)
        if entry is None or self.clock() - entry.fetched_at > self.ttl:
            self._entries.pop(issuer, None)
            return None
        self._entries.move_to_end(issuer)
        return entry

    async def _entry(self, issuer: str) -> _Entry:
        entry = self._fresh(issuer)
        if entry is not None:
            return entry
        try:
            metadata = await _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        except (httpx.HTTPError, httpx.InvalidURL):
            raise SsoError("discovery_unreachable") from None
        # OpenID Connect Discovery §4.3: the document must name the very issuer we asked.
        if metadata.get("issuer") != issuer:
            raise SsoError("discovery_issuer_mismatch")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            if not _acceptable_url(metadata.get(name)):
                raise SsoError(f"discovery_bad_{name}")
        entry = self._entries[issuer] = _Entry(metadata, self.clock())
        while len(self._entries) > self.max_issuers:
            self._entries.popitem(last=False)
        return entry

    async def metadata(self, issuer: str) -> dict[str, Any]:
        return (await self._entry(issuer)).metadata

    async def keys(self, issuer: str, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys. ``refresh`` (a token names a key we do not know: the
        provider has rotated) fetches them again, at most once every 30 seconds."""
        entry = await self._entry(issuer)
        stale = refresh and self.clock() - entry.keys_fetched_at > 30
        if entry.keys is None or stale:
            try:
                document = await _get_json(entry.metadata["jwks_uri"])
                entry.keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (httpx.HTTPError, httpx.InvalidURL, JoseError, KeyError, TypeError, ValueError):
                raise SsoError("jwks_unavailable") from None
            entry.keys_fetched_at = self.clock()
        return entry.keys


directory = ProviderDirectory()


def check_provider(issuer: str) -> None:
    """For the CLI, before saving: the issuer publishes a discovery document naming itself, with
    the endpoints we need, and a key set. Raises SsoError(reason)."""
    import asyncio

    async def check() -> None:
        probe = ProviderDirectory(max_issuers=1)
        await probe.keys(issuer)

    asyncio.run(check())


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


def _client(
    config: SsoConfig, metadata: dict[str, Any], secret_key: str, redirect_uri: str
) -> AsyncOAuth2Client:
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret(secret_key),
        token_endpoint_auth_method=method,
        scope=" ".join(config.provider.scopes),
        redirect_uri=redirect_uri,
        timeout=HTTP_TIMEOUT,
        follow_redirects=False,
    )


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


@dataclasses.dataclass(frozen=True, slots=True)
class ExternalProfile:
    """Who the provider says signed in. Personal data: never logged."""

    subject: str
    email: str | None
    given_name: str
    family_name: str
    acr: str

    @property
    def display_name(self) -> str:
        first = self.given_name.split(" ")[0] if self.given_name else ""
        return " ".join(part for part in (first, self.family_name) if part)[:120] or "?"


def _claims_registry(config: SsoConfig, now: float, **extra: Any) -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(
        now=int(now),
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": config.issuer},
        aud={"essential": True, "value": config.client_id},
        sub={"essential": True},
        **extra,
    )


def _reason(error: JoseError) -> str:
    if isinstance(error, ExpiredTokenError):
        return "id_token_expired"
    if isinstance(error, ClaimError):
        return f"id_token_{error.error}_{error.claim}"[:60]
    return f"id_token_{error.error}"[:60]


async def _verified(config: SsoConfig, token: str, algorithms: Iterable[str]) -> jwt.Token:
    """Check a JWS against the provider's keys (fetched again once if it names an unknown key)."""
    keys = await directory.keys(config.issuer)
    try:
        return jwt.decode(token, keys, algorithms=list(algorithms))
    except InvalidKeyIdError:
        keys = await directory.keys(config.issuer, refresh=True)
        return jwt.decode(token, keys, algorithms=list(algorithms))


async def complete(
    config: SsoConfig, pending: PendingSignIn, code: str, secret_key: str, now: float
) -> ExternalProfile:
    """Exchange the code, check the ID token and fetch the userinfo; raises SsoError(reason)."""
    if not code or len(code) > 2048:
        raise SsoError("code_missing")
    metadata = await directory.metadata(config.issuer)
    offered = metadata.get("id_token_signing_alg_values_supported")
    algorithms = [a for a in ID_TOKEN_ALGORITHMS if not offered or a in offered]
    if not algorithms:
        raise SsoError("no_common_algorithm")
    async with _client(config, metadata, secret_key, pending.redirect_uri) as client:
        try:
            extra = {"code_verifier": pending.code_verifier} if pending.code_verifier else {}
            token = await client.fetch_token(metadata["token_endpoint"], code=code, **extra)
        except OAuthError as exc:
            raise SsoError(f"token_refused_{str(exc.error)[:30]}") from None
        except (httpx.HTTPError, ValueError):
            raise SsoError("token_endpoint_failed") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoError("id_token_missing")
        try:
            checked = await _verified(config, id_token, algorithms)
            _claims_registry(
                config,
                now,
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": pending.nonce},
                acr={"essential": True, "values": list(config.provider.accepted_acr)},
            ).validate(checked.claims)
        except JoseError as exc:
            raise SsoError(_reason(exc)) from None
        claims = checked.claims
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != config.client_id:
            raise SsoError("id_token_azp")
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise SsoError("access_token_missing")
        try:
            # The token is sent as is: it was issued a moment ago (FranceConnect's live 60 seconds).
            response = await client.request(
                "GET",
                metadata["userinfo_endpoint"],
                headers={"Accept": "application/json", "Authorization": f"Bearer {access_token}"},
                withhold_token=True,
            )
        except httpx.HTTPError:
            raise SsoError("userinfo_unreachable") from None
    info = await _userinfo(config, response, algorithms, now)
    if info.get("sub") != claims["sub"]:
        raise SsoError("userinfo_subject_mismatch")
    email = info.get("email")
    return ExternalProfile(
        subject=str(claims["sub"])[:255],
        email=email.strip().lower() if isinstance(email, str) and "@" in email else None,
        given_name=str(info.get("given_name") or "").strip(),
        family_name=str(info.get(config.provider.family_name_claim) or "").strip(),
        acr=str(claims["acr"]),
    )


async def _userinfo(
    config: SsoConfig, response: httpx.Response, algorithms: list[str], now: float
) -> dict[str, Any]:
    """The userinfo answer: plain JSON, or (FranceConnect v2, ProConnect) a JWT signed by the provider."""
    if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
        raise SsoError("userinfo_refused")
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if media_type == "application/jwt":
        try:
            checked = await _verified(config, response.text.strip(), algorithms)
            _claims_registry(config, now).validate(checked.claims)
        except JoseError as exc:
            raise SsoError("userinfo_" + _reason(exc).removeprefix("id_token_")) from None
        return checked.claims
    try:
        data = response.json()
    except ValueError:
        raise SsoError("userinfo_not_json") from None
    if not isinstance(data, dict):
        raise SsoError("userinfo_not_json")
    return data
