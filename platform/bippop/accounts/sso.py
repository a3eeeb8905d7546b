"""Sign-in through FranceConnect or ProConnect, on a tenant's portal (docs/sso.md).

``GET /connexion/<provider>`` sends the person to the provider; the provider sends them back to
``GET /connexion/<provider>/retour`` with a code, on the tenant's registered address
(``tenants/urls.py``; started on another of its hosts, the first step redirects there). A provider
this tenant has not turned on does not exist here (404). Every failure shows the sign-in page with a
calm message and logs one line with a fixed reason — never a token, a code or anything about the
person.
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
import structlog
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit, oidc
from bippop.accounts import services as accounts
from bippop.accounts.controllers.sign_in import complete_sign_in
from bippop.accounts.models import ExternalIdentity, Person
from bippop.accounts.rate_limits import RateLimiter
from bippop.accounts.services.people import new_person
from bippop.tenants.context import TenantRef
from bippop.tenants.resolution import Site
from bippop.tenants.urls import tenant_host, tenant_url
from bippop.web import i18n
from bippop.web.addresses import client_address
from bippop.web.i18n import _
from bippop.web.pages import render, safe_next, tenant_default_locale

log = structlog.get_logger("bippop.sso")

PUBLIC = {"public": True}
STATE_COOKIE = "bippop_oidc"


def _tenant(request: Request) -> TenantRef:
    site: Site = request.state.site
    if site.tenant is None:  # these routes are served on tenant hosts only
        raise NotFoundException()
    return site.tenant


async def _config_or_404(db_session: AsyncSession, provider: str) -> oidc.SsoConfig:
    config = await oidc.load_config(db_session, provider)
    if config is None:
        raise NotFoundException()
    return config


def _redirect_uri(request: Request, provider: str) -> str:
    return oidc.redirect_uri(_tenant(request), provider, request.app.state.settings)


def _away_from_registered_address(request: Request) -> bool:
    """Reached on another of the tenant's hosts than the one its links (and return address) use."""
    return bool(request.state.get("hostname") != tenant_host(_tenant(request), request.app.state.settings))


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.env == "production")


async def _sign_in_page(
    request: Request,
    db_session: AsyncSession,
    message: Callable[[], str],
    *,
    next_url: str,
    status: int,
    provider: str | None = None,
) -> Response[str]:
    """The sign-in page again, with ``message`` on top (in the language the page will be shown in)."""
    default = await tenant_default_locale(db_session)
    i18n.current_locale.set(
        i18n.pick_locale(request.query_params.get("lang"), request.cookies.get(i18n.LOCALE_COOKIE), default)
    )
    context = {
        "values": {"next_url": next_url},
        "errors": {"form": message()},
        "sso_providers": await oidc.enabled_providers(db_session),
    }
    response = render(request, "accounts/sign_in.html", context, status_code=status, default_locale=default)
    response.headers["Cache-Control"] = "no-store"
    if provider is not None:
        response.delete_cookie(STATE_COOKIE, path=f"/connexion/{provider}")
    return response


def _failed(label: str) -> Callable[[], str]:
    return lambda: (
        _(
            "Signing in with %(provider)s did not work. Nothing has been changed: you can try again, "
            "or sign in with your e-mail address below."
        )
        % {"provider": label}
    )


def _cancelled(label: str) -> Callable[[], str]:
    return lambda: (
        _(
            "You came back from %(provider)s without signing in. Nothing has been changed: "
            "you can try again, or sign in with your e-mail address below."
        )
        % {"provider": label}
    )


def _refused(how: str, tenant_name: str, label: str) -> Callable[[], str]:
    """What a person refused at the return from the provider reads (made once the locale is known)."""
    messages = {
        "unknown_agent": lambda: (
            _(
                "No account of %(tenant)s is linked to this %(provider)s identity. Ask your commune's "
                "coordinator for an invitation: once you have accepted it, you can sign in with "
                "%(provider)s."
            )
            % {"tenant": tenant_name, "provider": label}
        ),
        "email_unconfirmed": lambda: (
            _(
                "An account with this e-mail address is waiting for its confirmation. Open the link "
                "we sent you by e-mail, then sign in with %(provider)s again."
            )
            % {"provider": label}
        ),
    }
    return messages.get(how, _failed(label))


def _safe_code(value: str | None) -> str:
    """An OAuth error code as the provider sent it, reduced to what can be logged."""
    return re.sub(r"[^a-z_]", "", (value or "").lower())[:40] or "unknown"


async def _match(
    db_session: AsyncSession, provider: oidc.Provider, profile: oidc.ExternalProfile
) -> tuple[Person | None, str]:
    """The person this identity signs in as, and how they were found ("found", "linked",
    "created"); or (None, why not)."""
    person: Person | None = await db_session.scalar(
        select(Person)
        .join(ExternalIdentity, ExternalIdentity.person_id == Person.id)
        .where(ExternalIdentity.provider == provider.slug, ExternalIdentity.subject == profile.subject)
    )
    if person is not None:
        return (person, "found") if person.can_sign_in else (None, "person_disabled")
    person = await accounts.person_by_email(db_session, profile.email) if profile.email else None
    if person is not None:
        if not person.can_sign_in:
            return None, "person_disabled"
        if person.email_verified_at is None:
            # Someone may have signed up with this address without owning it: never link to that.
            return None, "email_unconfirmed"
        how = "linked"
    elif provider.creates_role is None:
        return None, "unknown_agent"
    else:
        person = await new_person(
            db_session,
            display_name=profile.display_name,
            email=profile.email,
            roles=[provider.creates_role],
            locale=i18n.current_locale.get(),
            method=provider.slug,
            # The address comes from the identity provider behind FranceConnect, which checked it.
            email_verified=bool(profile.email),
        )
        how = "created"
    db_session.add(
        ExternalIdentity(
            id=uuid.uuid4(), provider=provider.slug, subject=profile.subject, person_id=person.id
        )
    )
    if how == "linked":
        audit.record(
            db_session,
            "sso_linked",
            actor_id=person.id,
            subject_type="person",
            subject_id=person.id,
            details={"provider": provider.slug},
        )
    await db_session.flush()
    return person, how


class SsoController(Controller):
    path = "/connexion"

    @get("/{provider:str}", opt=PUBLIC, name="sso-start")
    async def start(
        self, request: Request, db_session: NamedDependency[AsyncSession], provider: FromPath[str]
    ) -> Response[Any]:
        config = await _config_or_404(db_session, provider)
        next_url = safe_next(request.query_params.get("next_url"))
        if _away_from_registered_address(request):
            # The provider returns to the registered address: start there, so the state cookie is there.
            start_here = tenant_url(_tenant(request), f"/connexion/{provider}", request.app.state.settings)
            return Redirect(
                f"{start_here}?{urlencode({'next_url': next_url})}",
                status_code=303,
                headers={"Cache-Control": "no-store"},
            )
        # Each start keeps its state 10 minutes in Redis: counted per address, so nobody can pile them up.
        limiter: RateLimiter = request.app.state.rate_limiter
        tenant_id, address = _tenant(request).id, client_address(request)
        refusal = await anyio.to_thread.run_sync(
            lambda: limiter.hit("sso", tenant_id=tenant_id, account=None, address=address)
        )
        if refusal is not None:
            return await _sign_in_page(
                request, db_session, lambda: refusal.message, next_url=next_url, status=429
            )
        try:
            url, state, pending = await oidc.authorization_url(
                config, _redirect_uri(request, provider), next_url
            )
        except oidc.SsoError as exc:
            log.warning("sso_failed", provider=provider, step="start", reason=exc.reason)
            label = config.provider.label
            return await _sign_in_page(
                request,
                db_session,
                lambda: (
                    _(
                        "%(provider)s is not answering at the moment. Try again in a few minutes, "
                        "or sign in with your e-mail address below."
                    )
                    % {"provider": label}
                ),
                next_url=next_url,
                status=503,
            )
        redis: Redis = request.app.state.redis
        await oidc.save_pending(redis, _tenant(request), state, pending)
        response: Response[Any] = Redirect(url, status_code=303, headers={"Cache-Control": "no-store"})
        # Ties the sign-in to this browser: a link with someone else's code and state does nothing.
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=oidc.PENDING_SECONDS,
            path=f"/connexion/{provider}",
            httponly=True,
            secure=_secure(request),
            samesite="lax",
        )
        return response

    @get("/{provider:str}/retour", opt=PUBLIC, name="sso-return")
    async def finish(
        self, request: Request, db_session: NamedDependency[AsyncSession], provider: FromPath[str]
    ) -> Response[Any]:
        # Over 60 lines: the return's checks in the order the protocol needs them, each with its page.
        config = await _config_or_404(db_session, provider)
        tenant = _tenant(request)
        label = config.provider.label
        redis: Redis = request.app.state.redis
        params = request.query_params
        state = params.get("state") or ""
        pending = await oidc.pop_pending(redis, tenant, state)
        next_url = pending.next_url if pending is not None else "/"
        if params.get("error"):
            log.info("sso_cancelled", provider=provider, error=_safe_code(params.get("error")))
            return await _sign_in_page(
                request,
                db_session,
                _cancelled(label),
                next_url=next_url,
                status=200,
                provider=provider if pending is not None else None,
            )
        browser_state = request.cookies.get(STATE_COOKIE) or ""
        try:
            if pending is None:
                raise oidc.SsoError("state_unknown")
            if pending.provider != provider:
                raise oidc.SsoError("state_other_provider")
            if not hmac.compare_digest(browser_state.encode(), state.encode()):
                raise oidc.SsoError("state_other_browser")
            profile = await oidc.complete(
                config,
                pending,
                params.get("code") or "",
                request.app.state.settings.effective_secret_key(),
                request.app.state.clock(),
            )
        except oidc.SsoError as exc:
            log.warning("sso_failed", provider=provider, step="return", reason=exc.reason)
            # The browser's state cookie is dropped only when this was its sign-in (another tab may
            # have one in progress).
            return await _sign_in_page(
                request,
                db_session,
                _failed(label),
                next_url=next_url,
                status=400,
                provider=provider if pending is not None else None,
            )
        try:
            person, how = await _match(db_session, config.provider, profile)
        except IntegrityError:
            # The same identity arriving twice at once: the other request has linked it.
            await db_session.rollback()
            person, how = None, "concurrent_link"
        if person is None:
            log.warning("sso_refused", provider=provider, reason=how)
            message = _refused(how, tenant.name, label)
            return await _sign_in_page(
                request, db_session, message, next_url=next_url, status=403, provider=provider
            )
        await db_session.commit()
        log.info("sso_signed_in", provider=provider, how=how)
        response = await complete_sign_in(request, db_session, person, next_url, method=provider)
        response.delete_cookie(STATE_COOKIE, path=f"/connexion/{provider}")
        response.headers["Cache-Control"] = "no-store"
        return response
