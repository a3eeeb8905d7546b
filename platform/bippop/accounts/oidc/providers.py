"""The two providers and what each may do, and each tenant's configuration of them (a ``Setting``
``sso.<provider>``, the client secret sealed), written by the CLI and read by the sign-in pages."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bippop import sealing
from bippop.accounts.models import Setting
from bippop.db.reads import Read, read_together

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


_SETTING_KEYS = {provider.setting_key: provider for provider in PROVIDERS.values()}
# Built once (the sign-in page asks on every visit): a statement built per request costs more than
# sending it.
_PROVIDER_SETTINGS = Read(select(Setting.key, Setting.value).where(Setting.key.in_(list(_SETTING_KEYS))))


async def enabled_providers(session: AsyncSession) -> list[Provider]:
    """The providers this tenant has turned on, in a stable order (for the sign-in page)."""
    keys = _SETTING_KEYS
    [rows] = await read_together(session, [(_PROVIDER_SETTINGS, {})])  # the sign-in page's one read
    enabled = {key for key, value in rows if (config := _config_from(keys[key], value)) and config.enabled}
    return [provider for key, provider in keys.items() if key in enabled]


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def acceptable_url(url: object) -> bool:
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
    if parts.query or parts.fragment or not acceptable_url(url):
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
