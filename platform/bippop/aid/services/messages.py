"""Messages on a request, written through the platform so that no phone number changes hands
before the contact rules allow it: one set of rules whoever writes (person helped or relative,
volunteer, coordinator)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.aid.lifecycle import Outcome
from bippop.aid.models import HelpRequest, RequestMessage
from bippop.aid.notices import notify_all
from bippop.web.forms import field_problem
from bippop.web.i18n import _

MAX_LENGTH = 2000

# Who writes: the resident's side (the person helped or their relative), the volunteer, or a coordinator.
Side = Literal["resident", "volunteer", "coordinator"]


class MessageRefused(Exception):
    """The message cannot be kept as written (field name → message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class MessagePosted:
    """The messages to announce after the commit, or the refusal next to its field."""

    message_ids: list[uuid.UUID]
    errors: dict[str, str]


def _told(help_request: HelpRequest, author_id: uuid.UUID, side: Side) -> list[uuid.UUID]:
    """The other side hears of it; a coordinator's message goes to both."""
    if side == "coordinator":
        wanted = [help_request.beneficiary_id, help_request.volunteer_id]
    elif side == "volunteer":
        wanted = [help_request.beneficiary_id]
    else:
        wanted = [help_request.volunteer_id]
    return [p for p in wanted if p is not None and p != author_id]


def write_message(
    session: AsyncSession, help_request: HelpRequest, *, author_id: uuid.UUID, body: str, side: Side
) -> Outcome:
    """Keep the message; the outcome names who is told. Raises ``MessageRefused``."""
    body = body.strip()
    if invisible := field_problem(body, multiline=True):
        raise MessageRefused({"body": invisible})
    if not body:
        raise MessageRefused({"body": _("Write your message first.")})
    if len(body) > MAX_LENGTH:
        raise MessageRefused({"body": _("At most %(n)d characters, please.") % {"n": MAX_LENGTH}})
    session.add(RequestMessage(id=uuid.uuid4(), request_id=help_request.id, author_id=author_id, body=body))
    if side == "coordinator":  # staff acting on a request leave a trace (the text stays in the message)
        audit.record(
            session,
            "request_message",
            actor_id=author_id,
            subject_type="help_request",
            subject_id=help_request.id,
        )
    return Outcome(
        help_request, notify=[("request_message", p) for p in _told(help_request, author_id, side)]
    )


async def post_message(
    session: AsyncSession,
    help_request: HelpRequest,
    *,
    author_id: uuid.UUID,
    body: str,
    side: Side,
    tenant_name: str,
) -> MessagePosted:
    """``write_message`` and its outbox rows; nothing is kept when refused."""
    try:
        outcome = write_message(session, help_request, author_id=author_id, body=body, side=side)
    except MessageRefused as exc:
        return MessagePosted([], exc.errors)
    message_ids = await notify_all(
        session, outcome.notify, request_id=help_request.id, tenant_name=tenant_name
    )
    return MessagePosted(message_ids, {})
