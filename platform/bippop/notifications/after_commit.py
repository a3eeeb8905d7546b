"""The one place a web request commits its change and then announces the outbox messages it wrote:
a message is sent only once its change is committed (a rolled-back change sends nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.notifications.jobs import announce
from bippop.tenants.resolution import Site


async def commit_and_announce(
    request: Request, db_session: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> None:
    await db_session.commit()
    if message_ids:
        site: Site = request.state.site
        assert site.tenant is not None  # outbox rows live in a tenant's schema
        await announce(request.app.state.redis, site.tenant, list(message_ids))
