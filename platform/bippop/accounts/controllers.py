"""Pages of a tenant's accounts: sign-in (password, second factor, one-time link), sign-up, password
reset, single-use links (verification, reset, invitation, sign-in), the account page with two-step
sign-in set-up, sign-out, and the session's status and extension for the expiry warning.

Every form carries the CSRF token; every error is shown next to its field, in the person's
language; no answer tells whether an address has an account.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit, mfa, passwords
from bippop.accounts import services as accounts
from bippop.accounts.auth import (
    FLAG_MFA_ENROLLMENT,
    Identity,
    current_identity,
    end_session,
    scope_id,
    session_store,
    start_session,
)
from bippop.accounts.models import Person
from bippop.accounts.oidc import enabled_providers
from bippop.accounts.permissions import requires
from bippop.accounts.rate_limits import RateLimiter
from bippop.coop import controllers as coop_pages
from bippop.notifications.jobs import announce
from bippop.tenants.context import TenantRef
from bippop.tenants.resolution import Site
from bippop.tenants.urls import tenant_url
from bippop.web.addresses import client_address
from bippop.web.forms import first_text, form_problems
from bippop.web.i18n import _
from bippop.web.pages import _safe_next, render, tenant_default_locale

# A form post (application/x-www-form-urlencoded) as a dict; fields sent twice come as lists.
FormData = URLEncodedBody[dict[str, Any]]
PUBLIC = {"public": True}
# Sign-in and sign-out also serve the co-op console, whose staff are handled by coop/controllers.py.
TENANT_AND_COOP = {**PUBLIC, "sites": ("tenant", "coop")}
MFA_PENDING_COOKIE = "bippop_mfa"
MFA_PENDING_SECONDS = 5 * 60
SELF_SERVICE_ROLES = ("beneficiary", "relative", "volunteer")


async def signed_in_person(request: Request, db_session: AsyncSession) -> Person:
    """The person signed in on this request (routes guarded by ``requires``); a session whose person
    no longer exists means signing in again."""
    identity = current_identity(request)
    person = await db_session.get(Person, identity.person_id) if identity is not None else None
    if person is None:
        raise NotAuthorizedException()
    return person


def tenant_of(request: Request) -> TenantRef:
    """The request's tenant (these pages are served on tenant hosts only)."""
    site: Site = request.state.site
    assert site.tenant is not None
    return site.tenant


def _form(data: dict[str, Any]) -> dict[str, str]:
    """One string per field (a field sent twice keeps its first value), trimmed except passwords; the
    text as sent: ``form_problems`` names the fields holding an invisible character."""
    form: dict[str, str] = {}
    for key in data:
        text = first_text(data, key)
        form[key] = text if "password" in key else text.strip()
    return form


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def _hit(request: Request, action: str, account: str | None) -> str | None:
    """Count an attempt; the refusal's message when the limit is reached."""
    refusal = await anyio.to_thread.run_sync(
        lambda: _limiter(request).hit(
            action, tenant_id=tenant_of(request).id, account=account, address=client_address(request)
        )
    )
    return refusal.message if refusal else None


async def _forget(request: Request, action: str, account: str | None) -> None:
    """A success: the attempt no longer counts against the address, nor (given) the account's failures."""
    await anyio.to_thread.run_sync(
        lambda: _limiter(request).succeeded(
            action, tenant_id=tenant_of(request).id, account=account, address=client_address(request)
        )
    )


def _link(request: Request, token: str) -> str:
    # The tenant's registered address, never the Host header: a forged one would receive the secret.
    return tenant_url(tenant_of(request), f"/lien/{token}", request.app.state.settings)


async def _commit_and_send(request: Request, db_session: AsyncSession, message_ids: list[uuid.UUID]) -> None:
    await db_session.commit()
    if message_ids:
        await announce(request.app.state.redis, tenant_of(request), message_ids)


async def _page(
    request: Request, db_session: AsyncSession, template: str, context: dict[str, Any], status: int = 200
) -> Response[str]:
    locale = await tenant_default_locale(db_session)
    return render(request, template, context, status_code=status, default_locale=locale)


def _pending_key(request: Request, pending_id: str) -> str:
    return f"bippop:t:{scope_id(request)}:mfa-pending:{pending_id}"


async def complete_sign_in(
    request: Request, db_session: AsyncSession, person: Person, next_url: str, *, method: str
) -> Response[Any]:
    """Password (or link, or single sign-on) accepted: the second factor if the person has one,
    else a new session; a role that requires the second factor and has none goes to set it up."""
    redis: Redis = request.app.state.redis
    if person.totp_confirmed_at is not None:
        pending_id = secrets.token_urlsafe(24)
        await redis.set(
            _pending_key(request, pending_id),
            json.dumps({"person_id": str(person.id), "next": next_url, "method": method}),
            ex=MFA_PENDING_SECONDS,
        )
        response: Response[Any] = Redirect("/connexion/code", status_code=303)
        response.set_cookie(
            MFA_PENDING_COOKIE,
            pending_id,
            max_age=MFA_PENDING_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.env == "production",
            path="/connexion",
        )
        return response
    flags: tuple[str, ...] = ()
    target = next_url
    if mfa.mfa_required(person.roles):
        flags = (FLAG_MFA_ENROLLMENT,)
        target = "/compte/double-authentification"
    audit.record(
        db_session,
        "sign_in",
        actor_id=person.id,
        subject_type="person",
        subject_id=person.id,
        details={"method": method},
    )
    await db_session.commit()
    response = Redirect(target, status_code=303)
    await start_session(request, response, person.id, person.roles, flags=flags)
    return response


class SignInController(Controller):
    @get("/connexion", opt=TENANT_AND_COOP, name="sign-in")
    async def sign_in_form(
        self, request: Request, db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        if request.state.site.kind == "coop":
            return await coop_pages.sign_in_form(request)
        expired = request.query_params.get("expired")
        values = {"next_url": request.query_params.get("next_url", "/")}
        return await _page(
            request,
            db_session,
            "accounts/sign_in.html",
            {
                "values": values,
                "errors": {},
                "expired": expired in ("1", "lost"),
                "form_lost": expired == "lost",
                "sso_providers": await enabled_providers(db_session),
            },
        )

    @post("/connexion", opt=TENANT_AND_COOP)
    async def sign_in(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        if request.state.site.kind == "coop":
            return await coop_pages.sign_in(request, db_session, data)
        form = _form(data)
        email, password = form.get("email", ""), form.get("password", "")
        next_url = _safe_next(form.get("next_url"))
        errors: dict[str, str] = {}
        if not email:
            errors["email"] = _("Enter your e-mail address.")
        if not password:
            errors["password"] = _("Enter your password.")
        errors.update(form_problems(form))
        if not errors:
            refused = await _hit(request, "sign_in", email)
            if refused:
                errors["form"] = refused
            else:
                person = await accounts.authenticate(db_session, email, password)
                if person is None:
                    errors["password"] = _(
                        "The e-mail address or the password is not right. Check them and try again."
                    )
                elif person.email_verified_at is None:
                    token = await accounts.issue_token(
                        db_session, "verify_email", person_id=person.id, email=person.email
                    )
                    message = accounts.mail_link(
                        db_session,
                        purpose="verify_email",
                        recipient=person.email or "",
                        person=person,
                        link=_link(request, token),
                        tenant_name=tenant_of(request).name,
                    )
                    await _commit_and_send(request, db_session, [message.id])
                    errors["form"] = _(
                        "Please confirm your e-mail address first: we have just sent you a new link."
                    )
                else:
                    # With a second factor, the account's failed attempts keep counting until the code is
                    # right too; the address is not charged for a right password.
                    await _forget(request, "sign_in", email if person.totp_confirmed_at is None else None)
                    return await complete_sign_in(request, db_session, person, next_url, method="password")
        values = {"email": email, "next_url": next_url}
        return await _page(
            request,
            db_session,
            "accounts/sign_in.html",
            {"values": values, "errors": errors, "sso_providers": await enabled_providers(db_session)},
            status=400,
        )

    @get("/connexion/code", opt=TENANT_AND_COOP, name="sign-in-code")
    async def code_form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        if request.state.site.kind == "coop":
            return await coop_pages.code_form(request)
        if not request.cookies.get(MFA_PENDING_COOKIE):
            return Redirect("/connexion", status_code=303)
        return await _page(request, db_session, "accounts/sign_in_code.html", {"errors": {}, "values": {}})

    @post("/connexion/code", opt=TENANT_AND_COOP)
    async def code(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        if request.state.site.kind == "coop":
            return await coop_pages.code(request, db_session, data)
        redis: Redis = request.app.state.redis
        pending_id = request.cookies.get(MFA_PENDING_COOKIE, "")
        raw = (
            await redis.get(_pending_key(request, pending_id))
            if pending_id and len(pending_id) < 64
            else None
        )
        if raw is None:
            errors = {
                "form": _("Your sign-in took too long. Please start again with your e-mail and password.")
            }
            return await _page(
                request, db_session, "accounts/sign_in.html", {"errors": errors, "values": {}}, status=400
            )
        pending = json.loads(raw)
        person = await db_session.get(Person, uuid.UUID(pending["person_id"]))
        code = str(data.get("code", "")).strip()
        errors = {}
        if person is None or not person.can_sign_in:
            return Redirect("/connexion", status_code=303)
        refused = await _hit(request, "sign_in", person.email or str(person.id))
        now = request.app.state.clock()
        if refused:
            errors["code"] = refused
        elif not code:
            errors["code"] = _("Enter the 6-digit code from your app, or one of your recovery codes.")
        else:
            secret_key = request.app.state.settings.effective_secret_key()
            ok = mfa.verify(person, code, secret_key, now)
            used_recovery = False
            if not ok and len(code.replace("-", "").replace(" ", "")) == 10:
                ok = await db_session.run_sync(lambda s: mfa.use_recovery_code(s, person, code, now))
                used_recovery = ok
            if ok:
                await redis.delete(_pending_key(request, pending_id))
                await _forget(request, "sign_in", person.email or str(person.id))
                details = {
                    "method": pending.get("method", "password"),
                    "second_factor": "recovery_code" if used_recovery else "totp",
                }
                audit.record(
                    db_session,
                    "sign_in",
                    actor_id=person.id,
                    subject_type="person",
                    subject_id=person.id,
                    details=details,
                )
                await db_session.commit()
                response: Response[Any] = Redirect(_safe_next(pending.get("next")), status_code=303)
                response.delete_cookie(MFA_PENDING_COOKIE, path="/connexion")
                await start_session(request, response, person.id, person.roles)
                return response
            errors["code"] = _(
                "This code is not right. Codes change every 30 seconds: enter the one your app shows now."
            )
            audit.record(
                db_session,
                "sign_in_failed",
                subject_type="person",
                subject_id=person.id,
                details={"reason": "second_factor"},
            )
            await db_session.commit()
        return await _page(
            request, db_session, "accounts/sign_in_code.html", {"errors": errors, "values": {}}, status=400
        )

    @get("/connexion/lien", opt=PUBLIC, name="sign-in-link")
    async def link_form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        values = {"next_url": request.query_params.get("next_url", "/")}
        return await _page(
            request,
            db_session,
            "accounts/ask_link.html",
            {"purpose": "sign_in_link", "values": values, "errors": {}},
        )

    @post("/connexion/lien", opt=PUBLIC)
    async def ask_link(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[str]:
        return await _ask_by_email(request, db_session, _form(data), "sign_in_link", "sign_in")

    @get("/mot-de-passe-oublie", opt=PUBLIC, name="forgot-password")
    async def forgot_form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        return await _page(
            request,
            db_session,
            "accounts/ask_link.html",
            {"purpose": "reset_password", "values": {}, "errors": {}},
        )

    @post("/mot-de-passe-oublie", opt=PUBLIC)
    async def forgot(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[str]:
        return await _ask_by_email(request, db_session, _form(data), "reset_password", "password_reset")

    @post("/deconnexion", opt=TENANT_AND_COOP, name="sign-out")
    async def sign_out(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        if request.state.site.kind == "coop":
            return await coop_pages.sign_out(request)
        identity = current_identity(request)
        if identity is not None and identity.kind == "person":
            audit.record(
                db_session,
                "sign_out",
                actor_id=identity.person_id,
                subject_type="person",
                subject_id=identity.person_id,
            )
            await db_session.commit()
        response: Response[Any] = Redirect("/?signed_out=1", status_code=303)
        await end_session(request, response)
        return response


async def _ask_by_email(
    request: Request, db_session: AsyncSession, form: dict[str, str], purpose: str, limit: str
) -> Response[str]:
    email = form.get("email", "")
    context: dict[str, Any] = {
        "purpose": purpose,
        "values": {"email": email, "next_url": form.get("next_url", "/")},
        "errors": {},
    }
    invisible = form_problems(form)
    if invisible or not accounts.looks_like_email(email):
        context["errors"] = invisible or {"email": _("Enter an e-mail address like name@example.fr.")}
        return await _page(request, db_session, "accounts/ask_link.html", context, status=400)
    refused = await _hit(request, limit, email)
    if refused:
        context["errors"] = {"form": refused}
        return await _page(request, db_session, "accounts/ask_link.html", context, status=429)
    person = await accounts.person_by_email(db_session, email)
    if person is not None and person.can_sign_in:
        token = await accounts.issue_token(db_session, purpose, person_id=person.id, email=email)
        link = _link(request, token)
        if purpose == "sign_in_link":
            link += "?" + urlencode({"next_url": _safe_next(form.get("next_url"))})
        message = accounts.mail_link(
            db_session,
            purpose=purpose,
            recipient=person.email or email,
            person=person,
            link=link,
            tenant_name=tenant_of(request).name,
        )
    else:
        # The owner of the address hears it has no account here: the same work, hence the same time.
        message = accounts.mail_link(
            db_session,
            purpose="no_account",
            recipient=email,
            person=person,
            link=None,
            tenant_name=tenant_of(request).name,
        )
    await _commit_and_send(request, db_session, [message.id])
    # Same answer whether or not the address has an account.
    return await _page(request, db_session, "accounts/check_email.html", {"purpose": purpose})


class SignUpController(Controller):
    @get("/inscription", opt=PUBLIC, name="sign-up")
    async def sign_up_form(
        self, request: Request, db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        values = {"role": request.query_params.get("role", "")}
        return await _page(request, db_session, "accounts/sign_up.html", {"values": values, "errors": {}})

    @post("/inscription", opt=PUBLIC)
    async def sign_up(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[str]:
        form = _form(data)
        name, email, password, role = (form.get(k, "") for k in ("display_name", "email", "password", "role"))
        errors: dict[str, str] = {}
        if not name:
            errors["display_name"] = _("Enter the name you want to be called by.")
        elif len(name) > 120:
            errors["display_name"] = _("The name must have at most 120 characters.")
        if not accounts.looks_like_email(email):
            errors["email"] = _("Enter an e-mail address like name@example.fr.")
        if role not in SELF_SERVICE_ROLES:
            errors["role"] = _("Choose what brings you here.")
        problems = passwords.password_problems(password, [name, email, tenant_of(request).name])
        if problems:
            errors["password"] = problems[0].message
        errors.update(form_problems(form))
        if not errors:
            refused = await _hit(request, "sign_up", email)
            if refused:
                errors["form"] = refused
        if errors:
            values = {"display_name": name, "email": email, "role": role}
            return await _page(
                request, db_session, "accounts/sign_up.html", {"values": values, "errors": errors}, status=400
            )
        # Hashed whether or not the address is known: both answers then take the same time.
        password_hash = passwords.hash_password(password)
        existing = await accounts.person_by_email(db_session, email)
        if existing is not None:
            message = accounts.mail_link(
                db_session,
                purpose="already_registered",
                recipient=existing.email or email,
                person=existing,
                link=None,
                tenant_name=tenant_of(request).name,
            )
        else:
            from bippop.web.i18n import current_locale

            person = Person(
                id=uuid.uuid4(),
                display_name=name,
                email=accounts.normalise_email(email),
                password_hash=password_hash,
                roles=[role],
                locale=current_locale.get(),
            )
            db_session.add(person)
            await db_session.flush()
            audit.record(
                db_session,
                "account_created",
                actor_id=person.id,
                subject_type="person",
                subject_id=person.id,
                details={"roles": [role], "method": "sign_up"},
            )
            token = await accounts.issue_token(db_session, "verify_email", person_id=person.id, email=email)
            message = accounts.mail_link(
                db_session,
                purpose="verify_email",
                recipient=person.email or email,
                person=person,
                link=_link(request, token),
                tenant_name=tenant_of(request).name,
            )
        await _commit_and_send(request, db_session, [message.id])
        return await _page(request, db_session, "accounts/check_email.html", {"purpose": "verify_email"})


class LinkController(Controller):
    """``/lien/<secret>``: opening the link shows a page; only its button (a POST) uses the link, so a
    mail scanner that follows links does not burn it."""

    @get("/lien/{token:str}", opt=PUBLIC, name="link")
    async def show(
        self, request: Request, db_session: NamedDependency[AsyncSession], token: FromPath[str]
    ) -> Response[str]:
        check = await accounts.check_token(db_session, token)
        context: dict[str, Any] = {
            "token": token,
            "errors": {},
            "values": {"next_url": request.query_params.get("next_url", "/")},
        }
        if check.problem:
            context["problem"] = accounts.token_problem_message(check.problem)
            context["purpose"] = check.token.purpose if check.token else None
            return await _page(request, db_session, "accounts/link.html", context, status=400)
        assert check.token is not None
        context["purpose"] = check.token.purpose
        context["values"]["email"] = check.token.email or ""
        return await _page(request, db_session, "accounts/link.html", context)

    @post("/lien/{token:str}", opt=PUBLIC)
    async def use(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        token: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        form = _form(data)
        check = await accounts.check_token(db_session, token, lock=True)
        context: dict[str, Any] = {
            "token": token,
            "errors": {},
            "values": {"next_url": form.get("next_url", "/")},
        }
        if check.problem or check.token is None:
            context["problem"] = accounts.token_problem_message(check.problem or "unknown")
            context["purpose"] = check.token.purpose if check.token else None
            return await _page(request, db_session, "accounts/link.html", context, status=400)
        record = check.token
        context["purpose"] = record.purpose
        context["values"]["email"] = record.email or ""
        if invisible := form_problems(form):
            context["errors"] = invisible
            context["values"]["display_name"] = form.get("display_name", "")
            return await _page(request, db_session, "accounts/link.html", context, status=400)
        person = await db_session.get(Person, record.person_id) if record.person_id else None
        if record.purpose == "invitation":
            refused = await _hit(request, "invitation", record.email)
            if refused:
                context["errors"] = {"form": refused}
                return await _page(request, db_session, "accounts/link.html", context, status=429)
            name, password = form.get("display_name", ""), form.get("password", "")
            errors: dict[str, str] = {}
            if not name:
                errors["display_name"] = _("Enter the name you want to be called by.")
            problems = passwords.password_problems(
                password, [name, record.email or "", tenant_of(request).name]
            )
            if problems:
                errors["password"] = problems[0].message
            if errors:
                context["errors"], context["values"]["display_name"] = errors, name
                return await _page(request, db_session, "accounts/link.html", context, status=400)
            person = await accounts.person_by_email(db_session, record.email or "")
            if person is None:
                person = Person(
                    id=uuid.uuid4(),
                    display_name=name[:120],
                    email=record.email,
                    roles=list(record.roles),
                    locale="fr",
                )
                db_session.add(person)
            else:
                person.roles = sorted({*person.roles, *record.roles})
                # New roles and a new password: the sessions opened before end, as after a reset.
                await session_store(request).end_all_for(tenant_of(request).id, person.id)
            person.password_hash = passwords.hash_password(password)
            person.email_verified_at = accounts.now_utc()
            await db_session.flush()
            audit.record(
                db_session,
                "invitation_accepted",
                actor_id=person.id,
                subject_type="person",
                subject_id=person.id,
                details={
                    "roles": list(record.roles),
                    "invited_by": str(record.created_by) if record.created_by else None,
                },
            )
        elif person is None or not person.can_sign_in:
            context["problem"] = accounts.token_problem_message("unknown")
            return await _page(request, db_session, "accounts/link.html", context, status=400)
        elif record.purpose == "reset_password":
            password = form.get("password", "")
            problems = passwords.password_problems(
                password, [person.display_name, person.email or "", tenant_of(request).name]
            )
            if problems:
                context["errors"] = {"password": problems[0].message}
                return await _page(request, db_session, "accounts/link.html", context, status=400)
            person.password_hash = passwords.hash_password(password)
            person.email_verified_at = person.email_verified_at or accounts.now_utc()
            audit.record(
                db_session, "password_reset", actor_id=person.id, subject_type="person", subject_id=person.id
            )
            await session_store(request).end_all_for(tenant_of(request).id, person.id)
        elif record.purpose == "verify_email":
            person.email_verified_at = accounts.now_utc()
            audit.record(
                db_session, "email_verified", actor_id=person.id, subject_type="person", subject_id=person.id
            )
        record.used_at = accounts.now_utc()
        await db_session.flush()
        return await complete_sign_in(
            request, db_session, person, _safe_next(form.get("next_url")), method=record.purpose
        )


class AccountController(Controller):
    path = "/compte"
    guards = [requires("account.manage")]

    @get("/", name="account")
    async def account(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        person = await signed_in_person(request, db_session)
        return await _account_page(request, db_session, person, {}, {})

    @post("/preferences", name="account-preferences")
    async def preferences(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        """How the person wants news: e-mail, text message, voice call, or a coordinator phones them."""
        person = await signed_in_person(request, db_session)
        channel = str(data.get("channel", ""))
        phone = " ".join(str(data.get("phone", "")).split())
        errors: dict[str, str] = {}
        if channel not in CHANNELS:
            errors["channel"] = _("Choose how you would like to hear from us.")
        digits = "".join(ch for ch in phone if ch.isdigit())
        if phone and not (
            (len(digits) == 10 and digits.startswith("0"))
            or (phone.startswith("+") and 10 <= len(digits) <= 15)
        ):
            errors["phone"] = _("Enter a phone number like 06 12 34 56 78.")
        elif channel in ("sms", "voice", "coordinator") and not phone:
            errors["phone"] = _("Enter your phone number: it is how we will reach you.")
        errors.update(form_problems(data))
        if errors:
            return await _account_page(
                request, db_session, person, {"channel": channel, "phone": phone}, errors, status=400
            )
        person.phone = phone or None
        person.channels = [channel] + (["email"] if channel != "email" and person.email else [])
        audit.record(
            db_session,
            "preferences_changed",
            actor_id=person.id,
            subject_type="person",
            subject_id=person.id,
            details={"channel": channel},
        )
        await db_session.commit()
        return Redirect("/compte?saved=1", status_code=303)

    @get("/double-authentification", name="mfa-setup")
    async def mfa_form(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        person = await signed_in_person(request, db_session)
        return await _mfa_page(request, db_session, person, {})

    @post("/double-authentification")
    async def mfa_confirm(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        person = await signed_in_person(request, db_session)
        if person.totp_confirmed_at is not None:
            return Redirect("/compte", status_code=303)
        secret_key = request.app.state.settings.effective_secret_key()
        code = str(data.get("code", ""))
        try:
            codes = await db_session.run_sync(
                lambda s: mfa.confirm_enrollment(s, person, code, secret_key, request.app.state.clock())
            )
        except mfa.MfaError:
            return await _mfa_page(
                request,
                db_session,
                person,
                {
                    "code": _(
                        "This code is not right. Enter the 6 digits your app shows now for this account."
                    )
                },
                status=400,
            )
        audit.record(
            db_session, "mfa_enabled", actor_id=person.id, subject_type="person", subject_id=person.id
        )
        await db_session.commit()
        identity = current_identity(request)
        if identity is not None and identity.must_enroll_mfa:
            await session_store(request).clear_flag(identity.session, FLAG_MFA_ENROLLMENT)
        return await _page(request, db_session, "accounts/recovery_codes.html", {"codes": codes})

    @post("/codes-de-secours", name="recovery-codes")
    async def new_recovery_codes(
        self, request: Request, db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        person = await signed_in_person(request, db_session)
        if person.totp_confirmed_at is None:
            return Redirect("/compte", status_code=303)
        codes = await db_session.run_sync(lambda s: mfa.replace_recovery_codes(s, person))
        audit.record(
            db_session,
            "mfa_recovery_codes_replaced",
            actor_id=person.id,
            subject_type="person",
            subject_id=person.id,
        )
        await db_session.commit()
        return await _page(request, db_session, "accounts/recovery_codes.html", {"codes": codes})

    @post("/deconnecter-partout", name="sign-out-everywhere")
    async def sign_out_everywhere(
        self, request: Request, db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        identity = current_identity(request)
        assert identity is not None
        await session_store(request).end_all_for(tenant_of(request).id, identity.person_id)
        audit.record(
            db_session,
            "sign_out_everywhere",
            actor_id=identity.person_id,
            subject_type="person",
            subject_id=identity.person_id,
        )
        await db_session.commit()
        response: Response[Any] = Redirect("/?signed_out=1", status_code=303)
        await end_session(request, response)
        return response


CHANNELS = ("email", "sms", "voice", "coordinator")


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
        "channels": [
            ("email", _("By e-mail")),
            ("sms", _("By text message (SMS)")),
            ("voice", _("By a phone call with a recorded message")),
            ("coordinator", _("I have no internet: someone from the town hall phones me")),
        ],
        "saved": request.query_params.get("saved") == "1",
    }
    return await _page(request, db_session, "accounts/account.html", context, status=status)


async def _mfa_page(
    request: Request, db_session: AsyncSession, person: Person, errors: dict[str, str], status: int = 200
) -> Response[str]:
    if person.totp_confirmed_at is not None:
        return await _page(
            request, db_session, "accounts/mfa_setup.html", {"person": person, "enabled": True, "errors": {}}
        )
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
    return await _page(request, db_session, "accounts/mfa_setup.html", context, status=status)


class SessionController(Controller):
    """What the expiry warning asks: how long is left (not counted as activity), and "keep me signed in"."""

    path = "/session"

    @get("/etat", opt={**PUBLIC, "touch_session": False, "sites": ("tenant", "coop")}, name="session-status")
    async def status(self, request: Request) -> Response[dict[str, Any]]:
        identity = current_identity(request)
        return Response(_status(request, identity), headers={"Cache-Control": "no-store"})

    @post("/prolonger", opt={**PUBLIC, "sites": ("tenant", "coop")}, name="session-extend")
    async def extend(self, request: Request) -> Response[dict[str, Any]]:
        # The identity middleware has already counted this request as activity: the session is extended.
        identity = current_identity(request)
        return Response(_status(request, identity), headers={"Cache-Control": "no-store"})


def _status(request: Request, identity: Identity | None) -> dict[str, Any]:
    if identity is None:
        return {"signed_in": False, "expires_in": 0, "warn_in": 0}
    now = request.app.state.clock()
    left = identity.seconds_left(now)
    warn = max(0, int(identity.session.warn_at() - now))
    return {"signed_in": True, "expires_in": left, "warn_in": warn}


ACCOUNT_CONTROLLERS = [
    SignInController,
    SignUpController,
    LinkController,
    AccountController,
    SessionController,
    *coop_pages.COOP_CONTROLLERS,  # the co-op staff's own account pages
]
