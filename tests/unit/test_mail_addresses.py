"""One address per field: a comma (two mailboxes), a display name or a line separator never get
through, and a message the mail library cannot write fails for good instead of staying pending."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from bippop.accounts.services.links import looks_like_email
from bippop.config import Settings
from bippop.notifications.providers import DeliveryError
from bippop.notifications.services import send_smtp
from bippop.web.forms import INVISIBLE_IN_LINE


@pytest.mark.parametrize("address", ["claire@mairie.fr", "c.martin+bippop@sous.domaine.fr"])
def test_an_address_is_accepted(address: str) -> None:
    assert looks_like_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "mayor@beauvais.fr,attacker@evil.example",
        "mayor@beauvais.fr;attacker@evil.example",
        "Mayor <mayor@beauvais.fr>",
        "mayor@beauvais.fr attacker@evil.example",
        "mayor@@beauvais.fr",
        "mayor@beauvais",
        "@beauvais.fr",
        "a" * 250 + "@x.fr",
    ],
)
def test_anything_a_header_could_read_as_another_address_is_refused(address: str) -> None:
    assert not looks_like_email(address)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_unicode_line_separators_are_refused_in_a_line(separator: str) -> None:
    assert INVISIBLE_IN_LINE.search(f"Claire{separator}Martin")


@dataclasses.dataclass
class Message:
    recipient: str
    subject: str
    body: str
    id: uuid.UUID = dataclasses.field(default_factory=uuid.uuid4)


def test_a_header_the_mail_library_refuses_is_a_permanent_failure() -> None:
    settings = Settings(smtp_url="smtp://127.0.0.1:9", mail_from="Bip Pop <noreply@bippop.test>")
    with pytest.raises(DeliveryError) as refused:
        send_smtp(settings, Message("x@example.org", "Bonjour\u2028Bcc: y@example.org", "B"), tenant_host="t")  # type: ignore[arg-type]
    assert refused.value.permanent
