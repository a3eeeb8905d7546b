"""``/demander``: asking for help, for oneself or, under a mandate, for a parent (``aid.services.requests.ask_for_help``).

Signed out, ``/demander`` explains the three ways to ask (an account in one step, a relative who asks
on one's behalf, the town hall's phone) instead of a bare sign-in form; while the portal is not
published, only the town hall's phone (sign-up is closed)."""

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.auth import current_identity
from bippop.accounts.controllers.opts import PUBLIC
from bippop.accounts.deps import signed_in_person
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.aid.portal.common import (
    PERIODS,
    WEEKDAYS,
    enabled_modules,
    for_whom,
    module_or_404,
    period_name,
    visible_modules,
    weekday_name,
    windows_from_form,
)
from bippop.aid.services.requests import ask_for_help
from bippop.modules.contract import ModuleManifest
from bippop.outbox.after_commit import commit_and_announce
from bippop.web.deps import tenant_of
from bippop.web.drafts import take_draft
from bippop.web.forms import FormData, form_problems
from bippop.web.i18n import _
from bippop.web.pages import render_page
from bippop.web.tenant_settings import tenant_settings

ASK = requires("requests.ask")


def phone_href(number: str | None) -> str | None:
    """``tel:`` target of a number as the town hall wrote it (« 03 44 40 72 00 » → ``tel:0344407200``)."""
    if not number:
        return None
    digits = "".join(c for c in number if c.isdigit())
    if not digits:
        return None
    return "tel:" + ("+" if number.strip().startswith("+") else "") + digits


class AskStartController(Controller):
    """The way in: a resident chooses the kind of help; a visitor signed out learns how to ask."""

    @get("/demander", name="ask", opt=PUBLIC)
    async def choose(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        if current_identity(request) is None:
            branding = tenant_of(request).branding
            context = {
                "phone_href": phone_href(branding.get("contact_phone")),
                "open": (await tenant_settings(request)).published,  # else only the town hall's phone
            }
            return await render_page(request, db_session, "portal/ask_ways.html", context)
        await ASK(request, request.route_handler)  # signed in: the same rule as every asking page
        modules = await enabled_modules(request)
        return await render_page(request, db_session, "portal/ask_choose.html", {"modules": modules})


class AskController(Controller):
    """Residents: ask for oneself or, under a mandate, for someone else."""

    guards = [ASK]

    @get("/demander/{slug:str}", name="ask-module")
    async def form(
        self, request: Request, db_session: NamedDependency[AsyncSession], slug: FromPath[str]
    ) -> Response[str]:
        manifest = module_or_404(slug, await visible_modules(request))
        me = await signed_in_person(request, db_session)
        values = await take_draft(request)
        return await self._render(request, db_session, manifest, me, values, {})

    async def _render(
        self,
        request: Request,
        db_session: AsyncSession,
        manifest: ModuleManifest,
        me: Person,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[str]:
        people = await for_whom(db_session, me)
        context = {
            "module": manifest,
            "values": values,
            "errors": errors,
            "people": people,
            "me": me,
            "weekdays": [(d, weekday_name(d)) for d in WEEKDAYS],
            "periods": [(p, period_name(p)) for p in PERIODS],
            "when": values.get("when", [])
            if isinstance(values.get("when"), list)
            else [values.get("when")]
            if values.get("when")
            else [],
            "details": {},
        }
        extra = manifest.hooks.get("ask_form_context")  # what the module adds to its form page
        if extra is not None:
            context.update(await extra(db_session, me))
        return await render_page(request, db_session, "portal/ask_form.html", context, status=status)

    @post("/demander/{slug:str}")
    async def create(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        manifest = module_or_404(slug, await visible_modules(request))
        me = await signed_in_person(request, db_session)
        clean, errors = manifest.validate(data)
        people = await for_whom(db_session, me)
        target_id = str(data.get("for_whom") or (people[0].id if len(people) == 1 else ""))
        beneficiary = next((p for p in people if str(p.id) == target_id), None)
        if beneficiary is None:
            errors["for_whom"] = _("Choose the person this request is for.")
        errors.update(form_problems(data, multiline=manifest.textareas))
        windows = windows_from_form(data)
        if errors:
            return await self._render(request, db_session, manifest, me, dict(data), errors, status=400)
        assert beneficiary is not None
        asked = await ask_for_help(
            db_session,
            manifest=manifest,
            beneficiary=beneficiary,
            actor=me,
            created_as="beneficiary" if beneficiary.id == me.id else "relative",
            details=clean,
            recurring=data.get("recurring") == "on",
            preferred_windows=windows,
            tenant_name=tenant_of(request).name,
        )
        if asked.request is None:
            await db_session.refresh(me)  # rolled back: the page shows the person again
            return await self._render(request, db_session, manifest, me, dict(data), asked.errors, status=400)
        await commit_and_announce(request, db_session, asked.message_ids)
        return Redirect(f"/mes-demandes/{asked.request.id}?created=1", status_code=303)
