"""A new council administrator's next steps, each done or to do from the tenant's real data, and the
portal's publication (the ``published`` setting: absent means published; the wizard writes
``UNPUBLISHED_SETTINGS`` when it creates a tenant, so a new portal opens only when its council says so).

While unpublished, residents and signed-out visitors see « opening soon » on the home page and cannot sign
up; staff see everything (``aid/portal/home.py``, ``accounts/controllers/sign_up.py``, which read the flag
from the web kit's ``tenant_settings``)."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import any_, literal, or_, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import audit
from bippop.accounts.auth import Identity
from bippop.accounts.models import AccountToken, Person, RecoveryCode
from bippop.tenants.context import TenantRef
from bippop.tenants.tenant_settings import Setting
from bippop.web.i18n import _
from bippop.web.tenant_settings import PUBLISHED_KEY, is_published

# What the wizard writes in a tenant it creates (``published_statement(False)`` as one statement, for a
# synchronous or an asynchronous session alike).
UNPUBLISHED_SETTINGS = {PUBLISHED_KEY: False}

INVITATIONS_PAGE = "/gestion/invitations"
APPEARANCE_PAGE = "/gestion/apparence"
TWO_STEP_SECTION = "/compte#two-step"  # where one's recovery codes are made


@dataclasses.dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    explanation: str  # what it is for, or what was found once done
    link: str | None  # where it is done (None: the form on the checklist page itself)
    link_label: str


@dataclasses.dataclass(frozen=True)
class Checklist:
    steps: list[Step]
    published: bool

    @property
    def left(self) -> int:
        return sum(1 for step in self.steps if not step.done)


async def _someone_with(session: AsyncSession, role: str, besides: uuid.UUID) -> bool:
    """Someone other than ``besides`` holds ``role`` (not disabled), or a valid invitation offers it."""
    person = (
        select(Person.id)
        .where(literal(role) == any_(Person.roles), Person.id != besides, Person.disabled_at.is_(None))
        .exists()
    )
    invitation = (
        select(AccountToken.id)
        .where(
            AccountToken.purpose == "invitation",
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > clock.now(),
            literal(role) == any_(AccountToken.roles),
        )
        .exists()
    )
    return bool(await session.scalar(select(or_(person, invitation))))


async def _has_recovery_codes(session: AsyncSession, person_id: uuid.UUID) -> bool:
    """The wizard enrols the administrator's app but gives no recovery codes: a lost phone would lock
    the council out of its own portal."""
    unused = select(RecoveryCode.id).where(
        RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None)
    )
    return bool(await session.scalar(select(unused.exists())))


async def read_published(session: AsyncSession) -> bool:
    """The table's word (never a cached copy): what the checklist and the publication decide on."""
    value = await session.scalar(select(Setting.value).where(Setting.key == PUBLISHED_KEY))
    return value is None or is_published(value)


async def checklist(session: AsyncSession, identity: Identity, tenant: TenantRef) -> Checklist:
    """The five next steps of ``tenant`` as its administrator ``identity`` sees them."""
    coordinators = await _someone_with(session, "coordinator", identity.person_id)
    partners = await _someone_with(session, "partner", identity.person_id)
    phone = str(tenant.branding.get("contact_phone") or "")
    published = await read_published(session)
    steps = [
        Step(
            "recovery_codes",
            _("Keep your recovery codes"),
            await _has_recovery_codes(session, identity.person_id),
            _("If you lose your phone, one of these codes lets you sign in: print them or keep them safe."),
            TWO_STEP_SECTION,
            _("Make my recovery codes"),
        ),
        Step(
            "coordinators",
            _("Invite the coordinators"),
            coordinators,
            _("The town hall's agents who will follow the requests and the volunteers with you."),
            f"{INVITATIONS_PAGE}?role=coordinator",
            _("Invite a coordinator"),
        ),
        Step(
            "partners",
            _("Add the partners"),
            partners,
            _("The CCAS, care homes and associations that record requests for the people they follow."),
            f"{INVITATIONS_PAGE}?role=partner",
            _("Invite a partner"),
        ),
        Step(
            "contact_phone",
            _("Set the contact phone"),
            bool(phone),
            _("Current number: %(phone)s") % {"phone": phone}
            if phone
            else _(
                "Residents without internet can phone the town hall: its number is shown with its contact details."
            ),
            APPEARANCE_PAGE,
            _("Set the town hall's contact details"),
        ),
        Step(
            "publish",
            _("Publish the portal"),
            published,
            _("Residents can sign up and ask for help.")
            if published
            else _("Until then, visitors see that the portal will open soon, with the town hall's contact."),
            None,
            "",
        ),
    ]
    return Checklist(steps=steps, published=published)


def published_statement(published: bool) -> Insert:
    """The upsert of the ``published`` setting (one statement: run it in any tenant-scoped session)."""
    statement = insert(Setting).values(key=PUBLISHED_KEY, value=published)
    return statement.on_conflict_do_update(
        index_elements=[Setting.key],
        set_={"value": statement.excluded.value, "updated_at": clock.now()},
    )


async def set_published(session: AsyncSession, identity: Identity, published: bool) -> bool:
    """Open (``True``) or close the portal to residents, audited; ``False`` when it already was so (nothing
    written). The caller commits, then forgets the cached settings (``web.tenant_settings.forget``)."""
    # The row (once it exists) is locked while deciding: two administrators clicking at once record one change.
    current = await session.scalar(
        select(Setting.value).where(Setting.key == PUBLISHED_KEY).with_for_update()
    )
    if (current is None or is_published(current)) == published:  # absent means published
        return False
    await session.execute(published_statement(published))
    audit.record(
        session, "portal_published" if published else "portal_unpublished", actor_id=identity.person_id
    )
    return True
