"""The person comes back: the code exchanged (authlib), the ID token checked (joserfc: signature against
the provider's keys, ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``acr``) and the userinfo answer
read, plain JSON or signed. Failures carry a short fixed ``reason``; nothing here logs a token or a claim."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from typing import Any

import authlib.deprecate  # noqa: F401  (its warning filter first, so that ours below takes precedence)
import httpx
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError

from bippop.accounts.oidc.authorization import PendingSignIn
from bippop.accounts.oidc.discovery import (
    CLOCK_LEEWAY,
    HTTP_TIMEOUT,
    ID_TOKEN_ALGORITHMS,
    MAX_DOCUMENT_BYTES,
    directory,
)
from bippop.accounts.oidc.providers import SsoConfig, SsoError

with warnings.catch_warnings():
    # authlib prefers the ``httpx2`` fork and falls back to ``httpx`` (the one the project uses)
    # with a deprecation notice at import; the fallback is exactly what we want.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError


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
    # Over 60 lines: the token checks in the order OpenID Connect requires them, each failing with its reason.
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
