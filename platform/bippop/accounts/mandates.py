"""Relatives' mandates: who may act for whom.

A mandate is recorded by a coordinator (``/gestion/mandats``) with how the beneficiary consented, and
stays live until it is revoked. Modules that let a relative act for someone (help requests, visits)
ask ``may_act_for`` and nothing else.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Exists, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Mandate


def live_mandate(relative_id: uuid.UUID, beneficiary_id: uuid.UUID) -> Exists:
    """``EXISTS`` a live (not revoked) mandate of ``relative_id`` for ``beneficiary_id``."""
    return exists().where(
        Mandate.relative_id == relative_id,
        Mandate.beneficiary_id == beneficiary_id,
        Mandate.revoked_at.is_(None),
    )


async def may_act_for(session: AsyncSession, relative_id: uuid.UUID, beneficiary_id: uuid.UUID) -> bool:
    """Whether ``relative_id`` holds a live mandate for ``beneficiary_id`` in the session's tenant."""
    if relative_id == beneficiary_id:
        return False
    return bool(await session.scalar(select(live_mandate(relative_id, beneficiary_id))))
