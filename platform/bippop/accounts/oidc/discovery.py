"""The providers' discovery documents and signing keys, fetched over HTTPS and cached in process for
a few minutes, keyed by issuer (however many tenants point at the same provider)."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bippop.accounts.oidc.providers import SsoError, acceptable_url

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
            if not acceptable_url(metadata.get(name)):
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
