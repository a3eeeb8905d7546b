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

One module per step, re-exported here (callers write ``oidc.complete(...)``): ``providers`` (the
providers, a tenant's configuration), ``discovery`` (documents and keys, cached), ``authorization``
(the way out and the sign-in in progress) and ``callback`` (the way back: code, ID token, userinfo).
"""

from __future__ import annotations

from bippop.accounts.oidc.authorization import (
    PENDING_SECONDS,
    PendingSignIn,
    authorization_url,
    pending_key,
    pop_pending,
    redirect_uri,
    save_pending,
)
from bippop.accounts.oidc.callback import ExternalProfile, complete
from bippop.accounts.oidc.discovery import (
    CLOCK_LEEWAY,
    HTTP_TIMEOUT,
    ID_TOKEN_ALGORITHMS,
    MAX_DOCUMENT_BYTES,
    ProviderDirectory,
    check_provider,
    directory,
)
from bippop.accounts.oidc.providers import (
    EIDAS_LEVELS,
    PROVIDERS,
    SEAL_PURPOSE,
    Provider,
    SsoConfig,
    SsoError,
    acceptable_url,
    check_issuer,
    disable_config,
    enabled_providers,
    load_config,
    unseal,
    write_config,
)

__all__ = [
    "CLOCK_LEEWAY",
    "EIDAS_LEVELS",
    "HTTP_TIMEOUT",
    "ID_TOKEN_ALGORITHMS",
    "MAX_DOCUMENT_BYTES",
    "PENDING_SECONDS",
    "PROVIDERS",
    "SEAL_PURPOSE",
    "ExternalProfile",
    "PendingSignIn",
    "Provider",
    "ProviderDirectory",
    "SsoConfig",
    "SsoError",
    "acceptable_url",
    "authorization_url",
    "check_issuer",
    "check_provider",
    "complete",
    "directory",
    "disable_config",
    "enabled_providers",
    "load_config",
    "pending_key",
    "pop_pending",
    "redirect_uri",
    "save_pending",
    "unseal",
    "write_config",
]
