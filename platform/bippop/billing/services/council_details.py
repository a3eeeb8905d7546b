"""Correcting a council's billing details once it is signed up (its Chorus Pro service code, its
engagement number for the new year, its billing contact), checked as the wizard checks them
(``identity``). The council's administrator changes those from its portal (``save_council_details``,
recorded in the tenant's own audit log); who pays (legal name, SIRET) the co-op changes from its
console, on the council's request (``coop.services.billing_details``).

An invoice already issued keeps what it was issued with; periods held for a missing engagement number
or an invalid SIRET (``billing_holds``) are invoiced by the next run once the reason is gone.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.billing.models import BillingHold, BillingProfile
from bippop.billing.services import identity
from bippop.billing.services.parties import hold_reason
from bippop.config import Settings

PORTAL_ACTION = "billing_details_changed"  # the tenant's audit log; details: the changed fields' names


@dataclasses.dataclass(frozen=True)
class DetailsOutcome:
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    changed: list[str] = dataclasses.field(default_factory=list)  # field names, never their values
    released: int = 0  # held periods the next run will invoice now
    missing: bool = False  # the tenant has no billing profile

    @property
    def saved(self) -> bool:
        return not self.errors and not self.missing


async def locked_profile(session: AsyncSession, tenant_id: uuid.UUID) -> BillingProfile | None:
    """The tenant's profile, locked until the transaction ends (as the invoicing run locks it)."""
    found: BillingProfile | None = await session.scalar(
        select(BillingProfile).where(BillingProfile.tenant_id == tenant_id).with_for_update()
    )
    return found


async def open_holds(session: AsyncSession, tenant_id: uuid.UUID) -> list[BillingHold]:
    """The tenant's held periods not invoiced yet, oldest first."""
    query = (
        select(BillingHold)
        .where(BillingHold.tenant_id == tenant_id, BillingHold.resolved_at.is_(None))
        .order_by(BillingHold.period_start)
    )
    return list(await session.scalars(query))


async def released_holds(session: AsyncSession, profile: BillingProfile, settings: Settings) -> int:
    """How many held periods of the profile's tenant nothing keeps from being invoiced any more."""
    holds = await open_holds(session, profile.tenant_id)
    return len(holds) if holds and hold_reason(profile, settings) is None else 0


async def update_details(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    data: Mapping[str, Any],
    fields: tuple[str, ...],
) -> DetailsOutcome:
    """Check the posted ``fields`` and write them on the tenant's profile (in the caller's
    transaction, not audited: the caller records the names of ``changed``)."""
    profile = await locked_profile(session, tenant_id)
    if profile is None:
        return DetailsOutcome(missing=True)
    values = identity.read_form(data, fields)
    errors = identity.identity_problems(values)
    if errors:
        return DetailsOutcome(errors=errors, values=values)
    changed = identity.apply(profile, identity.normalised(values))
    await session.flush()
    released = await released_holds(session, profile, settings)
    return DetailsOutcome(values=values, changed=changed, released=released)


async def save_council_details(
    platform_session: AsyncSession,
    tenant_session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    actor_id: uuid.UUID,
    data: Mapping[str, Any],
) -> DetailsOutcome:
    """The council's administrator changes what the council itself decides (``COUNCIL_FIELDS``) on
    its own profile; recorded in the tenant's audit log (names of the fields changed only). The
    caller commits the platform session, then the tenant's."""
    outcome = await update_details(platform_session, settings, tenant_id, data, identity.COUNCIL_FIELDS)
    if outcome.saved and outcome.changed:
        audit.record(
            tenant_session,
            PORTAL_ACTION,
            actor_id=actor_id,
            subject_type="billing_profile",
            details={"changed": outcome.changed},
        )
    return outcome
