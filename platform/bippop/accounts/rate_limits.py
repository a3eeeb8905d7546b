"""Rate limits on sign-in, password reset, sign-up and invitation acceptance, kept in Redis.

Two counters per attempt: per account (so that one person's account cannot be
guessed at from many addresses) and per address (so that one address cannot try
many accounts). Keys carry the tenant and never the e-mail itself, only its
hash. A refusal says when to try again, in the person's language.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import math
import time
import uuid

from limits import RateLimitItem, parse, storage, strategies

from bippop.web.i18n import _, ngettext

# action → (per account, per address)
LIMITS: dict[str, tuple[str, str]] = {
    "sign_in": ("5 per 15 minutes", "30 per 15 minutes"),
    "password_reset": ("3 per hour", "10 per hour"),
    "sign_up": ("3 per hour", "10 per hour"),
    "invitation": ("5 per hour", "20 per hour"),
}


@dataclasses.dataclass(frozen=True)
class Refusal:
    retry_after_seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after_seconds / 60))
        return (
            _("Too many attempts.")
            + " "
            + ngettext("Please try again in %(num)d minute.", "Please try again in %(num)d minutes.", minutes)
            % {"num": minutes}
        )


def limits_storage_url(redis_url: str) -> str:
    """The ``limits`` library's spelling of a Redis URL (``unix://`` sockets included)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def address_key(address: str | None) -> str:
    """An IPv6 client owns a whole /64: count them together."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def account_key(account: str) -> str:
    return hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, redis_url: str) -> None:
        self.limiter = strategies.MovingWindowRateLimiter(
            storage.storage_from_string(limits_storage_url(redis_url))
        )
        self.items: dict[str, tuple[RateLimitItem, RateLimitItem]] = {
            action: (parse(per_account), parse(per_address))
            for action, (per_account, per_address) in LIMITS.items()
        }

    def _checks(
        self, action: str, tenant_id: uuid.UUID, account: str | None, address: str | None
    ) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        per_account, per_address = self.items[action]
        scope = ("bippop", "t", str(tenant_id), action)
        checks: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (per_address, (*scope, "address", address_key(address)))
        ]
        if account:
            checks.append((per_account, (*scope, "account", account_key(account))))
        return checks

    def hit(
        self, action: str, *, tenant_id: uuid.UUID, account: str | None, address: str | None
    ) -> Refusal | None:
        """Count one attempt; a Refusal when a limit is already reached (the attempt is then not counted)."""
        checks = self._checks(action, tenant_id, account, address)
        for item, keys in checks:
            if not self.limiter.test(item, *keys):
                reset = self.limiter.get_window_stats(item, *keys).reset_time
                return Refusal(max(1, math.ceil(reset - time.time())))
        for item, keys in checks:
            self.limiter.hit(item, *keys)
        return None

    def forget_account(self, action: str, *, tenant_id: uuid.UUID, account: str) -> None:
        """After a success: the account's failed attempts no longer count against it."""
        per_account, _per_address = self.items[action]
        self.limiter.clear(
            per_account, "bippop", "t", str(tenant_id), action, "account", account_key(account)
        )
