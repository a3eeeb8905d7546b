"""A signed-in resident becomes a volunteer (``/devenir-benevole``): the volunteer role added to their
own account, audited as a change of roles. The vetting starts where a volunteer's sign-up starts it:
whatever the person already had (none for a new volunteer), raised only by a coordinator
(``aid.services.vetting``) after checking their identity, then an interview and a criminal-record
extract for the requests that need it."""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts.models import ROLES, Person
from bippop.web.forms import form_problems
from bippop.web.i18n import _

VOLUNTEER = "volunteer"


@dataclasses.dataclass(frozen=True)
class JoinOutcome:
    done: bool
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    roles: tuple[str, ...] = ()


async def become_volunteer(db_session: AsyncSession, me: Person, form: dict[str, str]) -> JoinOutcome:
    """Add the volunteer role to ``me`` (the person signed in: never anyone named by the form), once
    they said they accept the checks. Already a volunteer: nothing changes (``done`` with their roles)."""
    if VOLUNTEER in me.roles:
        return JoinOutcome(done=True, roles=tuple(me.roles))
    errors = form_problems(form)
    if form.get("accept") != "yes":
        errors["accept"] = _("Tick this box to say you accept the town hall's checks.")
    if errors:
        return JoinOutcome(done=False, errors=errors)
    # Locked: two clicks at once add the role once and write one audit record.
    await db_session.refresh(me, with_for_update=True)
    if VOLUNTEER in me.roles:
        return JoinOutcome(done=True, roles=tuple(me.roles))
    before = [role for role in ROLES if role in me.roles]
    after = [role for role in ROLES if role in {*me.roles, VOLUNTEER}]
    me.roles = after
    audit.record(
        db_session,
        "role_changed",
        actor_id=me.id,
        subject_type="person",
        subject_id=me.id,
        details={"before": before, "after": after, "method": "became_volunteer"},
    )
    return JoinOutcome(done=True, roles=tuple(after))
