"""Step 1: finding the collectivity in the official list, and, when it is already on the platform,
writing to its administrator (the address is never shown: the platform mails it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import collectivities
from bippop.accounts.services.links import looks_like_email, normalise_email
from bippop.billing.models import BillingProfile
from bippop.collectivities import Collectivity
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services import StepOutcome, WizardCaller
from bippop.onboarding.wizard.store import save_answer, start_signup
from bippop.outbox.platform_mail import queue_platform_email
from bippop.tenants.models import Tenant
from bippop.web.forms import first_text, form_problems, search_text
from bippop.web.i18n import _

SEARCH_LIMIT = 15
MESSAGE_LIMIT = 2000


@dataclasses.dataclass(frozen=True)
class Found:
    collectivity: Collectivity
    tenant: Tenant | None  # already on the platform

    @property
    def choice(self) -> str:
        return choice_key(self.collectivity)


def choice_key(collectivity: Collectivity) -> str:
    return f"{collectivity.kind}:{collectivity.code}"


def from_choice(value: str) -> Collectivity | None:
    kind, _sep, code = value.partition(":")
    if not kind or not code or len(value) > 40:
        return None
    return collectivities.find(kind, code)


def as_answer(found: Collectivity) -> dict[str, Any]:
    return {
        "kind": found.kind,
        "code": found.code,
        "name": found.name,
        "label": found.label,
        "population": found.population,
        "siren": found.siren,
        "departement": found.departement,
    }


async def registered(session: AsyncSession, found: list[Collectivity]) -> dict[tuple[str, str], Tenant]:
    """The tenants (not being deleted) of these collectivities, by (kind, code)."""
    if not found:
        return {}
    keys = [(c.kind, c.code) for c in found]
    rows = await session.scalars(
        select(Tenant).where(tuple_(Tenant.kind, Tenant.official_code).in_(keys), Tenant.status != "deleting")
    )
    return {(t.kind, t.official_code): t for t in rows}


async def search(session: AsyncSession, query: str) -> list[Found]:
    text = search_text(query, 100)
    if len(text) < 2:
        return []
    found = collectivities.search(text, limit=SEARCH_LIMIT)
    tenants = await registered(session, found)
    return [Found(c, tenants.get((c.kind, c.code))) for c in found]


async def choose(
    session: AsyncSession, caller: WizardCaller, signup: Signup | None, form: dict[str, Any], locale: str
) -> StepOutcome:
    """Keep the chosen collectivity (starting the draft if there is none); one already on the platform
    goes to its page (``redirect``) instead."""
    found = from_choice(first_text(form, "choice"))
    values = {"q": first_text(form, "q")}
    if found is None:
        return StepOutcome.refused({"choice": _("Choose your collectivity in the list.")}, values)
    if (found.kind, found.code) in await registered(session, [found]):
        return StepOutcome(redirect=f"/creation/collectivite/deja?choix={choice_key(found)}")
    outcome = StepOutcome()
    if signup is None:
        if refused := await caller.hit("signup_start"):
            return StepOutcome.refused({"choice": refused}, values, status=429)
        signup, outcome.secret = start_signup(session, locale)
    previous = signup.answers.get("collectivity") or {}
    if previous and (previous.get("code"), previous.get("kind")) != (found.code, found.kind):
        # Another collectivity: its address and who pays for it are asked again (the rest is kept).
        signup.answers = {k: v for k, v in signup.answers.items() if k not in ("address", "billing")}
    save_answer(signup, "collectivity", as_answer(found), step=1)
    return outcome


async def contact_address(session: AsyncSession, tenant: Tenant) -> str | None:
    """Where a message to the collectivity's administrator goes: its billing contact, else its public
    contact address."""
    billing = await session.scalar(
        select(BillingProfile.contact_email).where(BillingProfile.tenant_id == tenant.id)
    )
    return billing or (tenant.branding or {}).get("contact_email") or None


async def contact_administrator(
    session: AsyncSession, caller: WizardCaller, found: Collectivity, tenant: Tenant, form: dict[str, Any]
) -> StepOutcome:
    values = {key: first_text(form, key).strip() for key in ("name", "email", "message")}
    errors = form_problems({k: v for k, v in values.items() if k != "message"}) | form_problems(
        {"message": values["message"]}, multiline=("message",)
    )
    if not values["name"] or len(values["name"]) > 120:
        errors.setdefault("name", _("Enter your name (120 characters at most)."))
    if not looks_like_email(values["email"]):
        errors.setdefault("email", _("Enter an e-mail address like name@example.fr."))
    if not values["message"] or len(values["message"]) > MESSAGE_LIMIT:
        errors.setdefault("message", _("Write your message (2,000 characters at most)."))
    if errors:
        return StepOutcome.refused(errors, values)
    if refused := await caller.hit("signup_contact", normalise_email(values["email"])):
        return StepOutcome.refused({"form": refused}, values, status=429)
    if await caller.hit_received("signup_contact_received", tenant.id):
        # Whoever writes: a collectivity is not flooded through the platform (20 messages a day).
        return StepOutcome.refused(
            {"form": _("This collectivity has received many messages today: please try again tomorrow.")},
            values,
            status=429,
        )
    recipient = await contact_address(session, tenant)
    if recipient is None:
        return StepOutcome.refused(
            {
                "form": _(
                    "This collectivity has not given a contact address yet: use its portal's contact page."
                )
            },
            values,
            status=409,
        )
    body = "\n".join(
        [
            _(
                "Written by a visitor of the Bip Pop website: Bip Pop has not checked who they are. "
                "Never send a password, a code or anyone's personal details in reply."
            ),
            "",
            _("Hello,"),
            "",
            _("%(name)s (%(email)s) wrote to you through the Bip Pop website about %(collectivity)s:")
            % {"name": values["name"], "email": values["email"], "collectivity": found.label},
            "",
            values["message"],
            "",
            _("Reply to this e-mail to answer them."),
        ]
    )
    message = queue_platform_email(
        session,
        purpose="signup_contact",
        recipient=recipient,
        subject=_("A message about your Bip Pop portal"),
        body=body,
        reply_to=normalise_email(values["email"]),
    )
    return StepOutcome(message_ids=[message.id])
