"""Asking for help, whoever asks: a resident or their relative on the portal, a coordinator or a
partner agent on the phone intake. One path records the request, offers it (or makes the
coordinators a task), writes the outbox rows, and says what to announce once the caller commits."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.accounts import services as accounts
from bippop.accounts.models import Person
from bippop.aid import lifecycle
from bippop.aid.lifecycle import LifecycleError, Outcome
from bippop.aid.models import HelpRequest
from bippop.aid.notices import notify_all
from bippop.aid.offering import offer_to_best
from bippop.modules.contract import ModuleManifest
from bippop.web.pages import tenant_default_locale


@dataclasses.dataclass(frozen=True)
class NewBeneficiary:
    """A person helped heard of for the first time on the phone, as the intake form checked them."""

    name: str
    channel: str
    phone: str = ""
    email: str = ""
    address: str = ""
    postcode: str = ""
    commune_code: str = ""


@dataclasses.dataclass(frozen=True)
class RequestAsked:
    """The request recorded (``None`` when refused), the messages to announce after the commit, and
    the refusal next to its field."""

    request: HelpRequest | None
    message_ids: list[uuid.UUID]
    errors: dict[str, str]


async def record_beneficiary(
    session: AsyncSession, new: NewBeneficiary, *, actor: Person, created_as: str
) -> Person:
    """A new person helped, audited as recorded by ``actor``; reached in the tenant's language."""
    person = Person(
        id=uuid.uuid4(),
        display_name=new.name,
        email=accounts.normalise_email(new.email) if new.email else None,
        phone=new.phone or None,
        address=new.address or None,
        postcode=new.postcode or None,
        commune_code=new.commune_code.upper() or None,
        roles=["beneficiary"],
        channels=[new.channel],
        locale=await tenant_default_locale(session),
    )
    session.add(person)
    await session.flush()
    audit.record(
        session,
        "beneficiary_recorded",
        actor_id=actor.id,
        subject_type="person",
        subject_id=person.id,
        details={"created_as": created_as, "channel": new.channel},
    )
    return person


async def announce_outcome(session: AsyncSession, outcome: Outcome, *, tenant_name: str) -> list[uuid.UUID]:
    """The outbox rows of what ``outcome`` tells; their ids go to ``announce`` after the commit."""
    return await notify_all(session, outcome.notify, request_id=outcome.request.id, tenant_name=tenant_name)


async def ask_for_help(
    session: AsyncSession,
    *,
    manifest: ModuleManifest,
    beneficiary: Person | NewBeneficiary,
    actor: Person,
    created_as: str,
    details: dict[str, Any],
    recurring: bool,
    preferred_windows: Sequence[dict[str, int]],
    tenant_name: str,
) -> RequestAsked:
    """Record a request (``details`` already cleaned by the module); refused → rolled back, nothing kept."""
    try:
        if isinstance(beneficiary, NewBeneficiary):
            beneficiary = await record_beneficiary(session, beneficiary, actor=actor, created_as=created_as)
        outcome = await lifecycle.create_request(
            session,
            manifest=manifest,
            beneficiary=beneficiary,
            actor=actor,
            created_as=created_as,
            details=details,
            recurring=recurring,
            preferred_windows=preferred_windows,
        )
    except LifecycleError as exc:
        await session.rollback()
        return RequestAsked(None, [], {exc.field: exc.message})
    # A coordinator triages what they took on the phone; anyone else's request goes to the
    # best-placed volunteers at once (nobody eligible: the coordinators get a task).
    if created_as != "coordinator":
        await offer_to_best(session, outcome.request)
    message_ids = await announce_outcome(session, outcome, tenant_name=tenant_name)
    return RequestAsked(outcome.request, message_ids, {})
