"""Rate limits on sign-in, password reset, sign-up, invitation acceptance and the public contact form,
kept in Redis.

Two counters per attempt: per account (so that one person's account cannot be
guessed at from many addresses) and per address (so that one address cannot try
many accounts). Keys carry the tenant and never the e-mail itself, only its
hash. A refusal says when to try again, in the person's language.

The address is counted first and atomically, so an address at its limit mints no
per-account key (a stranger inventing e-mails fills nothing) and a burst of parallel
attempts cannot all slip under it. A success gives its attempt back to the address: a
town hall or a care home signs many people in from one address; only failures count
there. Every key lives as long as its window (15 minutes or an hour) and holds at most
the limit's number of entries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import uuid
from typing import Any

from limits import RateLimitItem, parse, storage, strategies

from bippop import clock
from bippop.web.addresses import address_group
from bippop.web.i18n import _, ngettext

# action → (per account, per address)
LIMITS: dict[str, tuple[str, str]] = {
    "sign_in": ("5 per 15 minutes", "30 per 15 minutes"),
    "password_reset": ("3 per hour", "10 per hour"),
    "sign_up": ("3 per hour", "10 per hour"),
    "invitation": ("5 per hour", "20 per hour"),
    # Starting a single sign-on keeps its state for 10 minutes: counted per address only.
    "sso": ("30 per 10 minutes", "30 per 10 minutes"),
    # The public site's contact form: per sender's e-mail address, and per network address.
    "contact": ("3 per hour", "5 per hour"),
    # A council's sign-up on the public site: drafts started (per address), e-mail codes sent or tried,
    # messages to an existing collectivity's administrator (per e-mail address and per address).
    "signup_start": ("10 per hour", "10 per hour"),
    "signup_code": ("5 per hour", "20 per hour"),
    "signup_code_check": ("10 per 15 minutes", "30 per 15 minutes"),
    "signup_contact": ("3 per hour", "10 per hour"),
    # All the messages one collectivity's administrator receives from strangers (``hit_shared``).
    "signup_contact_received": ("20 per day", "20 per day"),
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
    return address_group(address)


def account_key(account: str) -> str:
    return hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, redis_url: str) -> None:
        self.storage = storage.storage_from_string(limits_storage_url(redis_url))
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)
        self.items: dict[str, tuple[RateLimitItem, RateLimitItem]] = {
            action: (parse(per_account), parse(per_address))
            for action, (per_account, per_address) in LIMITS.items()
        }

    @staticmethod
    def _address_keys(action: str, tenant_id: uuid.UUID, address: str | None) -> tuple[str, ...]:
        return ("bippop", "t", str(tenant_id), action, "address", address_key(address))

    @staticmethod
    def _account_keys(action: str, tenant_id: uuid.UUID, account: str) -> tuple[str, ...]:
        return ("bippop", "t", str(tenant_id), action, "account", account_key(account))

    def _refusal(self, item: RateLimitItem, keys: tuple[str, ...]) -> Refusal:
        reset = self.limiter.get_window_stats(item, *keys).reset_time
        return Refusal(max(1, math.ceil(reset - clock.seconds())))

    def _give_back(self, item: RateLimitItem, keys: tuple[str, ...]) -> None:
        """Un-count one attempt. ``limits`` keeps a moving window as a Redis list of timestamps, newest
        first, and has no refund: dropping the newest entry is one (tests/integration/test_trusted_proxies.py
        would notice a change of layout)."""
        assert isinstance(self.storage, storage.RedisStorage)
        connection: Any = self.storage.get_connection()
        connection.lpop(self.storage.prefixed_key(item.key_for(*keys)))

    def hit(
        self, action: str, *, tenant_id: uuid.UUID, account: str | None, address: str | None
    ) -> Refusal | None:
        """Count one attempt; a Refusal when a limit is already reached (the attempt is then not counted)."""
        per_account, per_address = self.items[action]
        by_address = self._address_keys(action, tenant_id, address)
        if not self.limiter.hit(per_address, *by_address):
            return self._refusal(per_address, by_address)
        if account:
            by_account = self._account_keys(action, tenant_id, account)
            if not self.limiter.hit(per_account, *by_account):
                self._give_back(per_address, by_address)
                return self._refusal(per_account, by_account)
        return None

    def hit_shared(self, action: str, *, tenant_id: uuid.UUID) -> Refusal | None:
        """Count one attempt on the counter every caller shares (what a collectivity receives from
        strangers, whoever they are); a Refusal when it is full."""
        per_all, _per_address = self.items[action]
        keys = ("bippop", "t", str(tenant_id), action, "all")
        if not self.limiter.hit(per_all, *keys):
            return self._refusal(per_all, keys)
        return None

    def forget_account(self, action: str, *, tenant_id: uuid.UUID, account: str) -> None:
        """After a success: the account's failed attempts no longer count against it."""
        per_account, _per_address = self.items[action]
        self.limiter.clear(per_account, *self._account_keys(action, tenant_id, account))

    def succeeded(
        self, action: str, *, tenant_id: uuid.UUID, account: str | None, address: str | None
    ) -> None:
        """A right password (or code): this attempt no longer counts against the address, where only
        failures count; and, given the account, its failed attempts are forgotten."""
        _per_account, per_address = self.items[action]
        self._give_back(per_address, self._address_keys(action, tenant_id, address))
        if account:
            self.forget_account(action, tenant_id=tenant_id, account=account)
