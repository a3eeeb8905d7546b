"""People of a tenant: the one place a ``Person`` is made (sign-up, invitation, single sign-on), and
the queries the staff pages share."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import any_, bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from bippop.accounts import audit
from bippop.accounts.models import Person
from bippop.accounts.services.links import now_utc
from bippop.db.reads import Read

# One person by id, every column: sent with a page's own reads (``db.reads.read_together``), its row made
# a ``Person`` by ``person_from``.
PERSON_BY_ID = Read(select(*Person.__table__.columns).where(Person.__table__.c.id == bindparam("person_id")))


def person_from(rows: Sequence[Any]) -> Person | None:
    """The person of ``PERSON_BY_ID``'s rows, for reading: detached, the session does not hold it (what
    changes it loads the person by ``db_session.get``; added to a session, it would be the same row, never
    a new one); None when there is no such person."""
    if not rows:
        return None
    person = Person(**rows[0]._asdict())
    make_transient_to_detached(person)
    return person


async def new_person(
    db_session: AsyncSession,
    *,
    display_name: str,
    email: str | None,
    roles: Sequence[str],
    locale: str,
    method: str,
    password_hash: str | None = None,
    email_verified: bool = False,
    audit_details: dict[str, Any] | None = None,
    audit_action: str = "account_created",
    actor_id: uuid.UUID | None = None,
    **contact: Any,
) -> Person:
    """A new person, flushed (so its id can be referenced), with its creation in the audit log (by
    ``actor_id``, else by the person themself); ``contact`` holds further columns (phone, address…)."""
    person = Person(
        id=uuid.uuid4(),
        display_name=display_name,
        email=email,
        password_hash=password_hash,
        roles=list(roles),
        locale=locale,
        email_verified_at=now_utc() if email_verified else None,
        **contact,
    )
    db_session.add(person)
    await db_session.flush()
    details = audit_details if audit_details is not None else {"roles": list(roles), "method": method}
    audit.record(
        db_session,
        audit_action,
        actor_id=actor_id or person.id,
        subject_type="person",
        subject_id=person.id,
        details=details,
    )
    return person


def with_role(role: str) -> Any:
    """The condition "this person holds ``role``" (roles are an array column)."""
    return literal(role) == any_(Person.roles)


async def display_names(db_session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """id → name of the given people (the missing ones are left out)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db_session.execute(select(Person.id, Person.display_name).where(Person.id.in_(wanted)))
    return {row.id: row.display_name for row in rows}
