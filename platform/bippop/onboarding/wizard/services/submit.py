"""Step 7: the summary, then one transaction that registers the tenant (``pending``), records who pays
and marks the sign-up submitted; a slug taken or a collectivity registered meanwhile sends the council
back to that step, nothing typed lost. Then: retrying a failed sign-up, and the one-time sign-in link
that opens the new portal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import collectivities
from bippop.accounts.services.links import issue_token
from bippop.billing.models import BillingProfile
from bippop.billing.pricing import offered_plans
from bippop.config import Settings
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services import StepOutcome
from bippop.onboarding.wizard.services.collectivity import registered
from bippop.onboarding.wizard.services.portal import slug_problem
from bippop.onboarding.wizard.steps import BY_KEY, PROGRESS
from bippop.onboarding.wizard.store import admin_person_id, touch
from bippop.tenants.errors import TenantError
from bippop.tenants.models import Tenant
from bippop.tenants.services import TenantService
from bippop.tenants.urls import tenant_url
from bippop.web.i18n import _

REFUSED_SLUG = "slug"
REFUSED_REGISTERED = "registered"
# Where the new administrator lands, signed in: the checklist of next steps.
FIRST_PAGE = "/gestion/premiers-pas"


def back_to(signup: Signup, step: str, reason: str) -> StepOutcome:
    signup.step_done = min(signup.step_done, BY_KEY[step].number - 1)
    touch(signup)
    return StepOutcome(redirect=f"{BY_KEY[step].path}?refus={reason}")


def billing_profile(tenant_id: Any, plan_id: Any, answers: dict[str, Any]) -> BillingProfile:
    billing, found = answers["billing"], answers["collectivity"]
    return BillingProfile(
        tenant_id=tenant_id,
        plan_id=plan_id,
        population=int(found.get("population") or 0),
        population_source=collectivities.DATASET[:80],
        legal_name=billing["legal_name"],
        siret=billing["siret"],
        service_code=billing.get("service_code") or None,
        engagement_required=bool(billing.get("engagement_required")),
        engagement_number=billing.get("engagement_number") or None,
        contact_name=billing["contact_name"],
        contact_email=billing["contact_email"],
        contact_phone=billing.get("contact_phone") or None,
    )


async def submit(session: AsyncSession, signup: Signup, settings: Settings) -> StepOutcome:
    """Register the tenant and mark the sign-up submitted (the caller commits, then enqueues the job)."""
    answers = signup.answers
    found = collectivities.find(answers["collectivity"]["kind"], answers["collectivity"]["code"])
    if found is None or await registered(session, [found]):
        return back_to(signup, "collectivity", REFUSED_REGISTERED)
    slug = answers["address"]["slug"]
    if await slug_problem(session, slug):
        return back_to(signup, "address", REFUSED_SLUG)
    plans = {plan.code: plan for plan in await offered_plans(session)}
    plan = plans.get(answers["billing"]["plan"])
    if plan is None:
        return back_to(signup, "billing", "plan")
    branding = {k: v for k, v in answers["branding"].items() if k != "theme"}

    def register(sync_session: Any) -> Any:
        service = TenantService(sync_session, base_domain=settings.base_domain)
        return service.register(
            slug=slug,
            name=found.name,
            kind=found.kind,
            official_code=found.code,
            branding=branding,
            theme=answers["branding"]["theme"],
            check_official=True,
        ).id

    try:
        async with session.begin_nested():
            tenant_id = await session.run_sync(register)
            session.add(billing_profile(tenant_id, plan.id, answers))
            await session.flush()
    except TenantError as exc:
        if exc.field == "slug":
            return back_to(signup, "address", REFUSED_SLUG)
        if exc.field in ("official_code", "kind"):
            return back_to(signup, "collectivity", REFUSED_REGISTERED)
        return StepOutcome.refused({"form": str(exc)}, {}, status=409)
    except IntegrityError:
        # Two confirmations at once: the other one took the address (or the collectivity) first.
        if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
            return back_to(signup, "address", REFUSED_SLUG)
        return back_to(signup, "collectivity", REFUSED_REGISTERED)
    signup.status = "submitted"
    signup.tenant_id = tenant_id
    signup.last_error = None
    return StepOutcome(redirect=PROGRESS)


def retry(signup: Signup) -> bool:
    """A failed sign-up goes back to "submitted" (the caller enqueues its job again); False otherwise."""
    if signup.status != "failed" or signup.tenant_id is None:
        return False
    signup.status = "submitted"
    signup.last_error = None
    return True


async def open_portal(
    session: AsyncSession, signup: Signup, tenant_session: Callable[[Tenant], Any], settings: Settings
) -> str | None:
    """Once per sign-up, done: a one-time sign-in link for its administrator on the new portal (the
    link's page then asks the two-step code), else None. ``session`` holds ``signup`` locked."""
    if signup.status != "done" or signup.tenant_id is None or signup.answers.get("opened"):
        return None
    tenant = await session.get(Tenant, signup.tenant_id)
    if tenant is None or tenant.status != "active":
        return None
    signup.answers = {**signup.answers, "opened": True}
    ref = tenant.ref()
    async with tenant_session(tenant) as scoped:
        secret = await issue_token(
            scoped, "sign_in_link", person_id=admin_person_id(signup.id), email=signup.email
        )
        await scoped.commit()
    return tenant_url(ref, f"/lien/{secret}?next_url={FIRST_PAGE}", settings)


def refusal_message(reason: str | None) -> str | None:
    return {
        REFUSED_SLUG: _("This address was taken in the meantime: choose another one."),
        REFUSED_REGISTERED: _(
            "This collectivity has been registered in the meantime: its portal already exists."
        ),
        "plan": _("This plan is no longer offered: choose another one."),
    }.get(reason or "")
