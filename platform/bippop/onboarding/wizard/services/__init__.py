"""The wizard's use cases, one file per group of steps; each returns a ``StepOutcome``."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import anyio.to_thread

from bippop.accounts.rate_limits import RateLimiter
from bippop.config import Settings

# Rate-limit keys of the public site (no tenant has this id; the co-op console's is the nil id).
PUBLIC_SCOPE = uuid.UUID(int=1)


@dataclasses.dataclass(frozen=True)
class WizardCaller:
    """What the use cases take from the web: settings, the attempt counters, the client's address and
    the secret of the browser's sign-up (to mail the resume link)."""

    settings: Settings
    limiter: RateLimiter
    address: str | None
    secret: str | None = None

    async def hit(self, action: str, account: str | None = None) -> str | None:
        """Count an attempt; the refusal's message when a limit is reached."""
        refusal = await anyio.to_thread.run_sync(
            lambda: self.limiter.hit(action, tenant_id=PUBLIC_SCOPE, account=account, address=self.address)
        )
        return refusal.message if refusal else None

    async def hit_received(self, action: str, tenant_id: uuid.UUID) -> str | None:
        """Count what one collectivity receives from strangers; the refusal's message when it is full."""
        refusal = await anyio.to_thread.run_sync(lambda: self.limiter.hit_shared(action, tenant_id=tenant_id))
        return refusal.message if refusal else None


@dataclasses.dataclass
class StepOutcome:
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    message_ids: list[uuid.UUID] = dataclasses.field(default_factory=list)
    secret: str | None = None  # a new sign-up's secret, for the cookie
    redirect: str | None = None
    status: int = 400

    @property
    def done(self) -> bool:
        return not self.errors

    @classmethod
    def refused(cls, errors: dict[str, str], values: dict[str, Any], status: int = 400) -> StepOutcome:
        return cls(errors=errors, values=values, status=status)
