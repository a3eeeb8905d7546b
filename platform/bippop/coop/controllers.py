"""Pages of the co-op console (``coop.<base domain>``): staff sign-in, with the second factor always
required, its set-up, sign-out, and the list of tenants.

``/connexion``, ``/connexion/code`` and ``/deconnexion`` belong to ``accounts.controllers``'s
``SignInController`` and ``/`` to ``web.pages``: each asks the web kit's registry of shared pages
(``web/site_pages.py``) for the co-op host's page, which ``SITE_PAGES`` below gives at assembly. Staff sessions live in the session store under
``COOP_SCOPE``: a tenant's session cookie finds nothing here, and theirs nothing on a tenant's host.
There is no tenant audit log for staff: sign-ins are logged (ids only, never an address or a name).
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import URLEncodedBody
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import mfa
from bippop.accounts.auth import (
    COOP_SCOPE,
    FLAG_MFA_ENROLLMENT,
    current_identity,
    session_store,
    start_session,
)
from bippop.accounts.permissions import requires
from bippop.accounts.rate_limits import RateLimiter
from bippop.accounts.staff_models import STAFF_ROLES, Staff
from bippop.coop import audit
from bippop.coop import auth as staff_auth
from bippop.coop.console import CONSOLE_CONTROLLERS
from bippop.coop.console.common import current_staff, page_number, signed_out
from bippop.coop.services import tenants as tenant_list
from bippop.tenants.models import KIND_LABELS, STATUSES
from bippop.web.addresses import client_address
from bippop.web.forms import form_problems
from bippop.web.i18n import _
from bippop.web.pages import render, safe_next
from bippop.web.site_pages import CODE, CODE_FORM, HOME, SIGN_IN, SIGN_IN_FORM, SIGN_OUT, SitePage

log = structlog.get_logger("bippop.coop")
FormData = URLEncodedBody[dict[str, Any]]

COOP_ONLY = {"sites": ("coop",)}
SIGN_IN_PATH = "/connexion"
ENROLLMENT_PATH = "/equipe/double-authentification"
PENDING_COOKIE = "bippop_mfa"  # the tenants' name: host-only, so each site has its own
PENDING_SECONDS = 5 * 60


def _pending_key(pending_id: str) -> str:
    return f"bippop:t:{COOP_SCOPE}:mfa-pending:{pending_id}"


def _roles(staff: Staff) -> tuple[str, ...]:
    return tuple(role for role in staff.roles if role in STAFF_ROLES)


async def _hit(request: Request, account: str | None) -> str | None:
    """Count a sign-in attempt against the co-op's own limits; the refusal's message if reached."""
    limiter: RateLimiter = request.app.state.rate_limiter
    address = client_address(request)
    refusal = await anyio.to_thread.run_sync(
        lambda: limiter.hit("sign_in", tenant_id=COOP_SCOPE, account=account, address=address)
    )
    return refusal.message if refusal else None


async def _forget(request: Request, account: str) -> None:
    """A success: the account's failures are forgotten, and the address is not charged for it."""
    limiter: RateLimiter = request.app.state.rate_limiter
    address = client_address(request)
    await anyio.to_thread.run_sync(
        lambda: limiter.succeeded("sign_in", tenant_id=COOP_SCOPE, account=account, address=address)
    )


def _sign_in_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
    expired: bool = False,
    form_lost: bool = False,
) -> Response[str]:
    context = {"values": values, "errors": errors, "expired": expired, "form_lost": form_lost}
    return render(request, "coop/sign_in.html", context, status_code=status)


# Sign-in (SignInController's paths on the co-op host, through SITE_PAGES) -------------------------


async def sign_in_form(request: Request) -> Response[str]:
    values = {"next_url": safe_next(request.query_params.get("next_url"))}
    expired = request.query_params.get("expired")
    return _sign_in_page(request, values, {}, expired=expired in ("1", "lost"), form_lost=expired == "lost")


async def sign_in(request: Request, db_session: AsyncSession, data: dict[str, Any]) -> Response[Any]:
    email = str(data.get("email", "")).strip()
    password = str(data.get("password", ""))
    next_url = safe_next(str(data.get("next_url") or ""))  # a repeated field arrives as a list
    errors: dict[str, str] = {}
    status = 400
    if not email:
        errors["email"] = _("Enter your e-mail address.")
    if not password:
        errors["password"] = _("Enter your password.")
    errors.update(form_problems(data))
    if not errors:
        refused = await _hit(request, email)
        if refused:
            errors["form"], status = refused, 429
        else:
            staff = await staff_auth.authenticate(db_session, email, password)
            if staff is None:
                log.info("staff_sign_in_failed", reason="password")
                errors["password"] = _(
                    "The e-mail address or the password is not right. Check them and try again."
                )
            else:
                return await _password_accepted(request, db_session, staff, next_url)
    return _sign_in_page(request, {"email": email, "next_url": next_url}, errors, status=status)


async def _password_accepted(
    request: Request, db_session: AsyncSession, staff: Staff, next_url: str
) -> Response[Any]:
    """The second factor next; without one yet, a session that can only set it up.

    With a second factor, failed attempts keep counting until the code is accepted too: a known
    password does not buy a fresh allowance of code guesses.
    """
    await db_session.commit()  # a password re-hashed with current parameters
    if staff.totp_confirmed_at is not None:
        pending_id = secrets.token_urlsafe(24)
        redis: Redis = request.app.state.redis
        await redis.set(
            _pending_key(pending_id),
            json.dumps({"staff_id": str(staff.id), "next": next_url}),
            ex=PENDING_SECONDS,
        )
        response: Response[Any] = Redirect(f"{SIGN_IN_PATH}/code", status_code=303)
        response.set_cookie(
            PENDING_COOKIE,
            pending_id,
            max_age=PENDING_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.env == "production",
            path=SIGN_IN_PATH,
        )
        return response
    await _forget(request, staff.email)
    log.info("staff_sign_in", staff_id=str(staff.id), second_factor="enrollment_required")
    audit.record(
        db_session, "staff.sign_in", staff_id=staff.id, target=str(staff.id), factor="enrollment_required"
    )
    await db_session.commit()
    response = Redirect(ENROLLMENT_PATH, status_code=303)
    await start_session(request, response, staff.id, _roles(staff), flags=(FLAG_MFA_ENROLLMENT,))
    return response


async def code_form(request: Request) -> Response[Any]:
    if not request.cookies.get(PENDING_COOKIE):
        return Redirect(SIGN_IN_PATH, status_code=303)
    return render(request, "accounts/sign_in_code.html", {"errors": {}, "values": {}})


async def code(request: Request, db_session: AsyncSession, data: dict[str, Any]) -> Response[Any]:
    redis: Redis = request.app.state.redis
    pending_id = request.cookies.get(PENDING_COOKIE, "")
    raw = await redis.get(_pending_key(pending_id)) if pending_id and len(pending_id) < 64 else None
    if raw is None:
        errors = {"form": _("Your sign-in took too long. Please start again with your e-mail and password.")}
        return _sign_in_page(request, {}, errors, status=400)
    pending = json.loads(raw)
    staff = await db_session.get(Staff, uuid.UUID(pending["staff_id"]))
    if staff is None or not staff.can_sign_in:
        await redis.delete(_pending_key(pending_id))
        return Redirect(SIGN_IN_PATH, status_code=303)
    value = str(data.get("code", "")).strip()
    errors = {}
    status = 400
    refused = await _hit(request, staff.email)
    if refused:
        errors["code"], status = refused, 429
    elif not value:
        errors["code"] = _("Enter the 6-digit code from your app, or one of your recovery codes.")
    else:
        secret_key = request.app.state.settings.effective_secret_key()
        factor = await staff_auth.check_second_factor(
            db_session, staff, value, secret_key, request.app.state.clock()
        )
        if factor is not None:
            audit.record(db_session, "staff.sign_in", staff_id=staff.id, target=str(staff.id), factor=factor)
            await db_session.commit()  # the code is not accepted twice; the sign-in in the audit log
            await redis.delete(_pending_key(pending_id))
            await _forget(request, staff.email)
            log.info("staff_sign_in", staff_id=str(staff.id), second_factor=factor)
            response: Response[Any] = Redirect(safe_next(pending.get("next")), status_code=303)
            response.delete_cookie(PENDING_COOKIE, path=SIGN_IN_PATH)
            await start_session(request, response, staff.id, _roles(staff))
            return response
        log.info("staff_sign_in_failed", staff_id=str(staff.id), reason="second_factor")
        errors["code"] = _(
            "This code is not right. Codes change every 30 seconds: enter the one your app shows now."
        )
    return render(request, "accounts/sign_in_code.html", {"errors": errors, "values": {}}, status_code=status)


async def sign_out(request: Request, db_session: AsyncSession) -> Response[Any]:
    identity = current_identity(request)
    if identity is not None and identity.kind == "staff":
        log.info("staff_sign_out", staff_id=str(identity.person_id))
        if await current_staff(request, db_session) is not None:
            audit.record(
                db_session, "staff.sign_out", staff_id=identity.person_id, target=str(identity.person_id)
            )
            await db_session.commit()
    return await signed_out(request)


# The console's home (PagesController.home on the co-op host, through SITE_PAGES) --------------------


async def console(request: Request, db_session: AsyncSession) -> Response[Any]:
    """The list of tenants, by name, 50 a page, with a search on the name and filters."""
    if current_identity(request) is None:
        return Redirect(SIGN_IN_PATH, status_code=303)
    await requires("coop.console")(request, request.route_handler)
    if await current_staff(request, db_session) is None:
        return await signed_out(request)  # disabled or removed since signing in
    filters = tenant_list.TenantFilters.from_query(request.query_params)
    listed = await tenant_list.list_tenants(db_session, filters, page_number(request), clock.today())

    def page_url(number: int) -> str:
        return "/?" + urlencode({**filters.params(), "page": number})

    context = {
        "tenants": [
            {
                "name": row.name,
                "kind": KIND_LABELS.get(row.kind, row.kind),
                "status": tenant_list.status_label(row.status),
                "slug": row.slug,
                "plan": row.plan_name,
                "overdue": row.overdue,
                "last_error": row.last_error,  # provisioning's, or the sign-up job's (onboarding/wizard/finish.py)
            }
            for row in listed.rows
        ],
        "total": listed.total,
        "filters": filters,
        "filtered": bool(filters.params()),
        "statuses": [(status, tenant_list.status_label(status)) for status in STATUSES],
        "kinds": list(KIND_LABELS.items()),
        "departements": tenant_list.departement_names(),
        "plans": await tenant_list.plan_choices(db_session),
        "query": filters.query,
        "page": listed.page,
        "pages": listed.pages,
        "previous_url": page_url(listed.page - 1) if listed.page > 1 else None,
        "next_url": page_url(listed.page + 1) if listed.page < listed.pages else None,
    }
    return render(request, "coop/console.html", context)


# The second factor's set-up -----------------------------------------------------------------------


class CoopAccountController(Controller):
    """What a staff member does with their own account; reachable while the second factor is missing."""

    guards = [requires("coop.account")]

    @get(ENROLLMENT_PATH, opt=COOP_ONLY, name="coop-mfa-setup")
    async def mfa_form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        staff = await current_staff(request, db_session)
        if staff is None:
            return await signed_out(request)
        if staff.totp_confirmed_at is not None:
            return Redirect("/", status_code=303)
        return await _enrollment_page(request, db_session, staff, {})

    @post(ENROLLMENT_PATH, opt=COOP_ONLY)
    async def mfa_confirm(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        identity = current_identity(request)
        staff = await current_staff(request, db_session)
        if identity is None or staff is None:
            return await signed_out(request)
        if staff.totp_confirmed_at is not None:
            return Redirect("/", status_code=303)
        secret_key = request.app.state.settings.effective_secret_key()
        try:
            codes = await staff_auth.confirm_enrollment(
                db_session, staff, str(data.get("code", "")), secret_key, request.app.state.clock()
            )
        except mfa.MfaError:
            error = _("This code is not right. Enter the 6 digits your app shows now for this account.")
            return await _enrollment_page(request, db_session, staff, {"code": error}, status=400)
        await db_session.commit()
        log.info("staff_mfa_enabled", staff_id=str(staff.id))
        if identity.must_enroll_mfa:
            await session_store(request).clear_flag(identity.session, FLAG_MFA_ENROLLMENT)
        return render(request, "accounts/recovery_codes.html", {"codes": codes})


async def _enrollment_page(
    request: Request, db_session: AsyncSession, staff: Staff, errors: dict[str, str], status: int = 200
) -> Response[str]:
    secret_key = request.app.state.settings.effective_secret_key()
    if staff.totp_secret:
        secret = mfa.unseal(staff.totp_secret, secret_key)
    else:
        secret = mfa.start_enrollment(staff, secret_key)
        await db_session.commit()
    uri = mfa.provisioning_uri(secret, staff.email, staff_auth.TOTP_ISSUER_SUFFIX)
    context = {
        "enabled": False,
        "required": True,
        "action": ENROLLMENT_PATH,
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr": mfa.qr_svg(uri, _("QR code to scan with your authenticator app")),
        "errors": errors,
    }
    return render(request, "accounts/mfa_setup.html", context, status_code=status)


COOP_CONTROLLERS = [CoopAccountController, *CONSOLE_CONTROLLERS]

# The co-op host's pages on the paths it shares with the tenants (registered by ``bippop.assembly``).
SITE_PAGES: dict[str, SitePage] = {
    HOME: lambda request, db_session, data: console(request, db_session),
    SIGN_IN_FORM: lambda request, db_session, data: sign_in_form(request),
    SIGN_IN: sign_in,
    CODE_FORM: lambda request, db_session, data: code_form(request),
    CODE: code,
    SIGN_OUT: lambda request, db_session, data: sign_out(request, db_session),
}
