"""« Billing details » of a tenant on the console: the co-op corrects the whole billing identity
(who pays included) when Chorus Pro rejects an invoice or a council's engagement number changes;
audited ``tenant.billing_details`` with the names of the fields changed, never their values (a
contact's name or e-mail is personal data)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.billing.services import identity
from bippop.billing.services.council_details import DetailsOutcome, update_details
from bippop.config import Settings
from bippop.coop import audit

ACTION = "tenant.billing_details"


async def save_billing_details(
    session: AsyncSession,
    settings: Settings,
    staff_id: uuid.UUID,
    tenant_id: uuid.UUID,
    data: Mapping[str, Any],
) -> DetailsOutcome:
    """Check and save every field of the tenant's billing identity in the caller's transaction."""
    outcome = await update_details(session, settings, tenant_id, data, identity.ALL_FIELDS)
    if outcome.saved and outcome.changed:
        audit.record(
            session,
            ACTION,
            staff_id=staff_id,
            tenant_id=tenant_id,
            target=str(tenant_id),
            changed=outcome.changed,
        )
    return outcome
