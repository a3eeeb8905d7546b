"""What a use case of the accounts domain answers: what happened, the errors to show next to their
fields, and the outbox messages to announce once the caller has committed."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any


@dataclasses.dataclass
class AccountOutcome:
    done: bool = True
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    message_ids: list[uuid.UUID] = dataclasses.field(default_factory=list)
    status: int = 400  # the answer's status when ``errors`` is not empty (429 for a rate limit)
    subject: Any = None  # the person or record the use case acted on

    @classmethod
    def refused(cls, errors: dict[str, str], status: int = 400) -> AccountOutcome:
        return cls(done=False, errors=errors, status=status)
