"""Use cases of the public site: finding a collectivity in the official list, its yearly price on the
default plan, the portal of one already on the platform (for its administrators' sign-in), and a
visitor's message to the co-op through the platform's outbox."""

from __future__ import annotations

import dataclasses
import re
import uuid
from decimal import Decimal

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import collectivities
from bippop.accounts.rate_limits import RateLimiter
from bippop.accounts.services.links import looks_like_email
from bippop.billing.models import Plan
from bippop.billing.pricing import default_plan, with_vat, yearly_price
from bippop.collectivities import Collectivity
from bippop.config import Settings
from bippop.outbox.platform_mail import queue_platform_email
from bippop.tenants.models import Tenant
from bippop.tenants.urls import tenant_url
from bippop.web.forms import form_problems
from bippop.web.i18n import _

SEARCH_LIMIT = 10
# Searched among those on the platform: a wider look at the list first, then only theirs are kept.
PLATFORM_SEARCH_LIMIT = 50
QUERY_MAX = 100
# The public site's visitors are in no tenant: their contact messages are counted under this scope.
PUBLIC_SCOPE = uuid.UUID(int=1)
NAME_MAX = 120
COLLECTIVITY_MAX = 200
MESSAGE_MAX = 5_000
CHOICE = re.compile(r"(commune|epci|departement):([0-9AB]{2,9})")


# Finding a collectivity ---------------------------------------------------------------------


def search(query: str | None, limit: int = SEARCH_LIMIT) -> list[Collectivity]:
    """The collectivities matching what a visitor typed (name, postcode, INSEE or SIREN code)."""
    text = (query or "").strip()[:QUERY_MAX]
    return collectivities.search(text, limit=limit) if text else []


def choice_of(collectivity: Collectivity) -> str:
    """The value that names a collectivity in a link: ``commune:60159``."""
    return f"{collectivity.kind}:{collectivity.code}"


def chosen(value: str | None) -> Collectivity | None:
    """The collectivity a link names (``commune:60159``), or None when it names none in the list."""
    found = CHOICE.fullmatch((value or "").strip())
    return collectivities.find(found.group(1), found.group(2)) if found else None


# The price -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Quote:
    collectivity: Collectivity
    plan: Plan
    yearly: Decimal  # excluding VAT
    yearly_with_vat: Decimal

    @property
    def vat(self) -> Decimal:
        return self.yearly_with_vat - self.yearly


async def quote(session: AsyncSession, collectivity: Collectivity) -> Quote:
    """The yearly price of ``collectivity`` on the default plan, from its population."""
    plan = await default_plan(session)
    amount = yearly_price(plan, collectivity.population)
    return Quote(collectivity, plan, amount, with_vat(amount, plan))


# Signing in on one's portal ------------------------------------------------------------------


async def portal_sign_in_url(
    session: AsyncSession, settings: Settings, collectivity: Collectivity
) -> str | None:
    """The sign-in page of the active portal of ``collectivity``, on its registered address (never the
    request's ``Host``), or None when it has none on the platform."""
    tenant = await session.scalar(
        select(Tenant)
        .where(
            Tenant.kind == collectivity.kind,
            Tenant.official_code == collectivity.code,
            Tenant.status == "active",
        )
        .order_by(Tenant.created_at)  # an official code is unique on the platform; the oldest if not
        .limit(1)
    )
    return tenant_url(tenant.ref(), "/connexion", settings) if tenant is not None else None


async def on_the_platform(session: AsyncSession, found: list[Collectivity]) -> list[Collectivity]:
    """Those of ``found`` that have an active portal on the platform, ``SEARCH_LIMIT`` at most."""
    if not found:
        return []
    rows = await session.execute(
        select(Tenant.kind, Tenant.official_code).where(
            Tenant.status == "active", Tenant.official_code.in_([c.code for c in found])
        )
    )
    present = {(kind, code) for kind, code in rows}
    return [c for c in found if (c.kind, c.code) in present][:SEARCH_LIMIT]


# Writing to the co-op ------------------------------------------------------------------------

CONTACT_FIELDS = ("name", "email", "collectivity", "message")


@dataclasses.dataclass(frozen=True)
class ContactOutcome:
    errors: dict[str, str]
    message_ids: list[uuid.UUID] = dataclasses.field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.errors


def contact_problems(form: dict[str, str]) -> dict[str, str]:
    name, email, collectivity, message = (form.get(k, "") for k in CONTACT_FIELDS)
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Enter your name.")
    elif len(name) > NAME_MAX:
        errors["name"] = _("The name must have at most 120 characters.")
    if not looks_like_email(email):
        errors["email"] = _("Enter an e-mail address like name@example.fr.")
    if len(collectivity) > COLLECTIVITY_MAX:
        errors["collectivity"] = _("The collectivity must have at most 200 characters.")
    if not message:
        errors["message"] = _("Write your message.")
    elif len(message) > MESSAGE_MAX:
        errors["message"] = _("The message must have at most 5,000 characters (it has %(count)d).") % {
            "count": len(message)
        }
    errors.update(form_problems({k: form.get(k, "") for k in CONTACT_FIELDS}, multiline=("message",)))
    return errors


def contact_body(form: dict[str, str]) -> str:
    lines = [
        f"Nom / Name: {form['name']}",
        f"Adresse / E-mail: {form['email']}",
        f"Collectivité / Collectivity: {form.get('collectivity') or '—'}",
        "",
        form["message"],
    ]
    return "\n".join(lines)


async def send_contact(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    form: dict[str, str],
    *,
    address: str | None,
) -> ContactOutcome:
    """A visitor's message to the co-op, as one platform outbox row with ``Reply-To`` the visitor;
    refused with a message per field, or when this address or this sender wrote too often."""
    errors = contact_problems(form)
    if errors:
        return ContactOutcome(errors)
    email = form["email"]
    refusal = await anyio.to_thread.run_sync(
        lambda: limiter.hit("contact", tenant_id=PUBLIC_SCOPE, account=email.lower(), address=address)
    )
    if refusal is not None:
        return ContactOutcome({"form": refusal.message})
    about = form.get("collectivity") or form["name"]
    message = queue_platform_email(
        session,
        purpose="public_contact",
        recipient=settings.coop_contact_email,
        subject=f"[Contact] {about}"[:200],
        body=contact_body(form),
        reply_to=email,
    )
    return ContactOutcome({}, [message.id])
