"""Step 2: the administrator's account, the e-mail code, and the two-step sign-in set-up."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import mfa
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.controllers.common import (
    WIZARD,
    open_step,
    refused_or_next,
    see_other,
    step_page,
    wizard_caller,
)
from bippop.onboarding.wizard.services import StepOutcome
from bippop.onboarding.wizard.services import account as step
from bippop.onboarding.wizard.steps import EMAIL_CODE, PREFIX, TOTP, account_next, first_missing
from bippop.web.deps import PAGE_DEPENDENCIES
from bippop.web.forms import FormData, form_fields


class AccountController(Controller):
    path = PREFIX
    dependencies = PAGE_DEPENDENCIES

    @get("/compte", opt=WIZARD, name="signup-account")
    async def form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 2)
        if isinstance(signup, Redirect):
            return signup
        values = dict(signup.answers.get("account") or {})
        if values:
            values["statement"] = "yes"
        context = {"values": values, "has_password": bool(signup.password_hash)}
        return await step_page(request, db_session, "account.html", signup, 2, context)

    @post("/compte", opt=WIZARD)
    async def save(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 2, lock=True)
        if isinstance(signup, Redirect):
            return signup
        outcome = await step.save_account(db_session, wizard_caller(request), signup, form_fields(data))
        context = {
            "values": outcome.values,
            "errors": outcome.errors,
            "has_password": bool(signup.password_hash),
        }
        refused = partial(
            step_page, request, db_session, "account.html", signup, 2, context, status=outcome.status
        )
        return await refused_or_next(
            request, db_session, outcome, refused, account_next(signup) or first_missing(signup)
        )

    @get("/compte/code", opt=WIZARD, name="signup-email-code")
    async def code_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 2)
        if isinstance(signup, Redirect):
            return signup
        if not signup.email:
            return see_other(f"{PREFIX}/compte")
        context = {
            "email": signup.email,
            "verified": signup.email_verified_at is not None,
            "resent": request.query_params.get("renvoye") == "1",
        }
        return await step_page(request, db_session, "email_code.html", signup, 2, context)

    @post("/compte/code", opt=WIZARD)
    async def check_code(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 2, lock=True)
        if isinstance(signup, Redirect):
            return signup
        if signup.email_verified_at is not None or not signup.email:
            return see_other(account_next(signup) or first_missing(signup))
        outcome = await step.check_code(wizard_caller(request), signup, form_fields(data))
        await db_session.commit()  # a wrong code counts
        if not outcome.done:
            return await self._code_refused(request, db_session, signup, outcome)
        return see_other(TOTP)

    @post("/compte/code/renvoyer", opt=WIZARD)
    async def resend(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 2, lock=True)
        if isinstance(signup, Redirect):
            return signup
        if signup.email_verified_at is not None or not signup.email:
            return see_other(account_next(signup) or first_missing(signup))
        outcome = await step.send_code(db_session, wizard_caller(request), signup)
        refused = partial(self._code_refused, request, db_session, signup, outcome)
        return await refused_or_next(request, db_session, outcome, refused, f"{EMAIL_CODE}?renvoye=1")

    async def _code_refused(
        self, request: Request, db_session: AsyncSession, signup: Signup, outcome: StepOutcome
    ) -> Response[Any]:
        context = {"email": signup.email, "errors": outcome.errors, "verified": False}
        return await step_page(
            request, db_session, "email_code.html", signup, 2, context, status=outcome.status
        )

    @get("/compte/double-authentification", opt=WIZARD, name="signup-totp")
    async def totp_form(
        self, request: Request, db_session: NamedDependency[AsyncSession], locale: NamedDependency[str]
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 2, lock=True)
        if isinstance(signup, Redirect):
            return signup
        if signup.email_verified_at is None:
            return see_other(account_next(signup) or EMAIL_CODE)
        return await self._totp_page(request, db_session, signup, {})

    @post("/compte/double-authentification", opt=WIZARD)
    async def confirm_totp(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: FormData,
        locale: NamedDependency[str],
    ) -> Response[Any]:
        signup = await open_step(request, db_session, 2, lock=True)
        if isinstance(signup, Redirect):
            return signup
        if signup.email_verified_at is None:
            return see_other(account_next(signup) or EMAIL_CODE)
        key = request.app.state.settings.effective_secret_key()
        outcome = step.confirm_totp(signup, form_fields(data), key)
        refused = partial(self._totp_page, request, db_session, signup, outcome.errors, status=400)
        return await refused_or_next(request, db_session, outcome, refused, first_missing(signup))

    async def _totp_page(
        self,
        request: Request,
        db_session: AsyncSession,
        signup: Signup,
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[Any]:
        if signup.totp_confirmed_at is not None:
            context: dict[str, Any] = {"enabled": True}
        else:
            secret = step.totp_secret(signup, request.app.state.settings.effective_secret_key())
            await db_session.commit()
            qr = mfa.qr_svg(step.provisioning_uri(signup, secret), "QR code")
            context = {"enabled": False, "secret": secret, "qr": qr, "errors": errors}
        return await step_page(request, db_session, "totp.html", signup, 2, context, status=status)
