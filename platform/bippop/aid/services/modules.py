"""The services a tenant offers, switched on and off by a coordinator (audited before and after)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.modules import registry


async def choose_modules(session: AsyncSession, chosen: Sequence[str], *, actor_id: uuid.UUID) -> list[str]:
    """Switch on exactly ``chosen``; raises ``ValueError`` for a slug that is not installed."""
    before = await registry.enabled_slugs(session)
    after = await registry.set_enabled(session, list(chosen))
    audit.record(session, "modules_changed", actor_id=actor_id, details={"before": before, "after": after})
    return after
