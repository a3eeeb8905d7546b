"""A person's own account page: how they want news, two-step sign-in and its recovery codes, and
signing out on every device."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import mfa
from bippop.accounts.auth import FLAG_MFA_ENROLLMENT, Identity, current_identity, end_session, session_store
from bippop.accounts.deps import SIGNED_IN_DEPENDENCIES
from bippop.accounts.models import Person
from bippop.accounts.permissions import requires
from bippop.accounts.services.account_settings import (
    replace_recovery_codes,
    set_preferences,
    turn_on_two_step,
)
from bippop.accounts.services.sign_in import record_sign_out
from bippop.web.deps import tenant_of
from bippop.web.forms import FormData
from bippop.web.i18n import _
from bippop.web.pages import render_page


class AccountController(Controller):
    path = "/compte"
    guards = [requires("account.manage")]
    dependencies = SIGNED_IN_DEPENDENCIES

    @get("/", name="account")
    async def account(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person: NamedDependency[Person],
        locale: NamedDependency[str],
    ) -> Response[str]:
        return await _account_page(request, db_session, person, {}, {})

    @post("/preferences", name="account-preferences")
    async def preferences(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        person: NamedDependency[Person],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        """How the person wants news: e-mail, text message, voice call, or a coordinator phones them."""
        outcome = set_preferences(db_session, person, data)
        if not outcome.done:
            return await _account_page(
                request, db_session, person, outcome.subject, outcome.errors, status=400
            )
        await db_session.commit()
        return Redirect("/compte?saved=1", status_code=303)

    @get("/double-authentification", name="mfa-setup")
    async def mfa_form(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person: NamedDependency[Person],
        locale: NamedDependency[str],
    ) -> Response[str]:
        return await _mfa_page(request, db_session, person, {})

    @post("/double-authentification")
    async def mfa_confirm(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        person: NamedDependency[Person],
        locale: NamedDependency[str],
    ) -> Response[Any]:
        if person.totp_confirmed_at is not None:
            return Redirect("/compte", status_code=303)
        secret_key = request.app.state.settings.effective_secret_key()
        code = str(data.get("code", ""))
        outcome = await turn_on_two_step(db_session, person, code, secret_key, request.app.state.clock())
        if not outcome.done:
            return await _mfa_page(request, db_session, person, outcome.errors, status=400)
        await db_session.commit()
        identity = current_identity(request)
        if identity is not None and identity.must_enroll_mfa:
            await session_store(request).clear_flag(identity.session, FLAG_MFA_ENROLLMENT)
        return await render_page(
            request, db_session, "accounts/recovery_codes.html", {"codes": outcome.subject}
        )

    @post("/codes-de-secours", name="recovery-codes")
    async def new_recovery_codes(
        self, request: Request, db_session: NamedDependency[AsyncSession], person: NamedDependency[Person]
    ) -> Response[Any]:
        if person.totp_confirmed_at is None:
            return Redirect("/compte", status_code=303)
        codes = await replace_recovery_codes(db_session, person)
        await db_session.commit()
        return await render_page(request, db_session, "accounts/recovery_codes.html", {"codes": codes})

    @post("/deconnecter-partout", name="sign-out-everywhere")
    async def sign_out_everywhere(
        self, request: Request, db_session: NamedDependency[AsyncSession], identity: NamedDependency[Identity]
    ) -> Response[Any]:
        await session_store(request).end_all_for(tenant_of(request).id, identity.person_id)
        record_sign_out(db_session, identity.person_id, everywhere=True)
        await db_session.commit()
        response: Response[Any] = Redirect("/?signed_out=1", status_code=303)
        await end_session(request, response)
        return response


def channel_options() -> list[tuple[str, str]]:
    return [
        ("email", _("By e-mail")),
        ("sms", _("By text message (SMS)")),
        ("voice", _("By a phone call with a recorded message")),
        ("coordinator", _("I have no internet: someone from the town hall phones me")),
    ]


async def _account_page(
    request: Request,
    db_session: AsyncSession,
    person: Person,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response[str]:
    context = {
        "person": person,
        "mfa_required": mfa.mfa_required(person.roles),
        "values": {
            "channel": person.channels[0] if person.channels else "email",
            "phone": person.phone or "",
            **values,
        },
        "errors": errors,
        "channels": channel_options(),
        "saved": request.query_params.get("saved") == "1",
    }
    return await render_page(request, db_session, "accounts/account.html", context, status=status)


async def _mfa_page(
    request: Request, db_session: AsyncSession, person: Person, errors: dict[str, str], status: int = 200
) -> Response[str]:
    if person.totp_confirmed_at is not None:
        context: dict[str, Any] = {"person": person, "enabled": True, "errors": {}}
        return await render_page(request, db_session, "accounts/mfa_setup.html", context)
    secret_key = request.app.state.settings.effective_secret_key()
    if person.totp_secret:
        secret = mfa.unseal(person.totp_secret, secret_key)
    else:
        secret = mfa.start_enrollment(person, secret_key)
        await db_session.commit()
    uri = mfa.provisioning_uri(secret, person.email or person.display_name, tenant_of(request).name)
    context = {
        "person": person,
        "enabled": False,
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr": mfa.qr_svg(uri, _("QR code to scan with your authenticator app")),
        "errors": errors,
        "required": mfa.mfa_required(person.roles),
    }
    return await render_page(request, db_session, "accounts/mfa_setup.html", context, status=status)
