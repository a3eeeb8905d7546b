"""Contact protection: who may see a person helped's phone number and exact address.

A volunteer sees them only once confirmed on the request (matched or later) *and* vetted to the
module's level (at least identity-checked); before that, they see a first name and the commune,
and write through the platform (``request_messages``). Coordinators and administrators see them
(each reading is recorded in the audit log), as does the person, and a relative with a live mandate.
"""

from __future__ import annotations

import dataclasses
import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import audit
from bippop.accounts.models import Person
from bippop.aid.lifecycle import live_mandate
from bippop.aid.models import HelpRequest
from bippop.modules.registry import module as find_module

CONFIRMED = ("matched", "scheduled", "paused", "done", "reported")
STAFF = frozenset({"coordinator", "tenant_admin"})


@dataclasses.dataclass(frozen=True)
class ContactView:
    name: str
    commune_code: str | None
    postcode: str | None
    phone: str | None = None
    address: str | None = None

    @property
    def full(self) -> bool:
        return self.phone is not None or self.address is not None


def short_name(display_name: str) -> str:
    """« Jeanne L. »: enough to greet someone, not to find them."""
    parts = display_name.split()
    if len(parts) < 2:
        return display_name
    return f"{parts[0]} {parts[-1][0]}."


async def may_see_contact(
    session: AsyncSession,
    *,
    viewer: Person,
    request: HelpRequest,
    today: datetime.date | None = None,
) -> bool:
    today = today or clock.today()
    if viewer.id == request.beneficiary_id or STAFF.intersection(viewer.roles):
        return True
    if "relative" in viewer.roles and await live_mandate(session, viewer.id, request.beneficiary_id):
        return True
    if "volunteer" in viewer.roles and request.volunteer_id == viewer.id and request.status in CONFIRMED:
        manifest = find_module(request.module)
        needed = max(1, manifest.matching.vetting_level if manifest else 1)
        return viewer.vetting_on(today) >= needed
    return False


async def contact_for(
    session: AsyncSession,
    *,
    viewer: Person,
    request: HelpRequest,
    beneficiary: Person,
    today: datetime.date | None = None,
) -> ContactView:
    """What ``viewer`` may see of ``beneficiary`` for this request; a full view is recorded in the audit log."""
    if await may_see_contact(session, viewer=viewer, request=request, today=today):
        if viewer.id != beneficiary.id:
            audit.record(
                session,
                "beneficiary_contact_read",
                actor_id=viewer.id,
                subject_type="person",
                subject_id=beneficiary.id,
                details={"request": str(request.id)},
            )
        return ContactView(
            name=beneficiary.display_name,
            commune_code=beneficiary.commune_code,
            postcode=beneficiary.postcode,
            phone=beneficiary.phone,
            address=beneficiary.address,
        )
    return ContactView(
        name=short_name(beneficiary.display_name),
        commune_code=beneficiary.commune_code,
        postcode=beneficiary.postcode,
    )
