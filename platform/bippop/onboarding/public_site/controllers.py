"""The public site's pages on the base domain, for councils: the home page (``/``), the price of a
collectivity (``/tarifs``), the contact form to the co-op (``/contact``, then ``/contact/merci``) and
the sign-in that sends a council's administrator to its own portal (``/connexion``).

``/``, ``GET /contact`` and ``GET /connexion`` are paths other sites serve too: their handlers ask the
shared-pages registry (``web/site_pages.py``), filled from ``SITE_PAGES`` below at assembly. Every
absolute address (the demo portal, a council's sign-in page) comes from the settings and the
registered domains (``tenants/urls.py``), never from the request's ``Host``.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.config import Settings
from bippop.onboarding.public_site import services
from bippop.outbox.platform_mail import announce_platform
from bippop.tenants.urls import subdomain_url
from bippop.web.addresses import client_address
from bippop.web.formats import babel_locale
from bippop.web.forms import form_fields
from bippop.web.pages import page_locale, render_page
from bippop.web.site_pages import CONTACT, CONTACT_SEND, HOME, SIGN_IN_FORM, SitePage

PUBLIC_ONLY = {"public": True, "sites": ("public",)}
# The demo commune ``bippop run`` seeds (``bippop.demo.DEMO_SLUG``, a layer above this one).
DEMO_SLUG = "demo"
SIGN_UP_PATH = "/inscription"  # the wizard's entry


def grouped(value: int) -> str:
    """A population with its thousands apart (« 16 420 », « 16,420 »), in the page's language."""
    return format_decimal(value, locale=babel_locale())


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def links(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Where the public pages point: the demo portal (an absolute address from the settings), the
    wizard, the contact form and the sign-in."""
    return {
        "demo_url": subdomain_url(DEMO_SLUG, "/", _settings(request)),
        "sign_up_url": SIGN_UP_PATH,
        "contact_url": "/contact",
        "sign_in_url": "/connexion",
        "pricing_url": "/tarifs",
    }


async def home(
    request: Request[Any, Any, Any], db_session: AsyncSession, data: dict[str, Any]
) -> Response[Any]:
    return await render_page(request, db_session, "public/home.html", {"links": links(request)})


async def contact_form(
    request: Request[Any, Any, Any], db_session: AsyncSession, data: dict[str, Any]
) -> Response[Any]:
    context = {"links": links(request), "values": {}, "errors": {}}
    return await render_page(request, db_session, "public/contact.html", context)


async def sign_in_form(
    request: Request[Any, Any, Any], db_session: AsyncSession, data: dict[str, Any]
) -> Response[Any]:
    """Find one's collectivity among those on the platform; choosing it goes to its portal's sign-in."""
    await page_locale(request, db_session)
    choice = request.query_params.get("collectivite")
    missing = None
    if choice:
        collectivity = services.chosen(choice)
        target = (
            await services.portal_sign_in_url(db_session, _settings(request), collectivity)
            if collectivity is not None
            else None
        )
        if target is not None:
            return Redirect(target, status_code=303)
        missing = collectivity
    query = (request.query_params.get("q") or "")[: services.QUERY_MAX]
    found = (
        await services.on_the_platform(db_session, services.search(query, services.PLATFORM_SEARCH_LIMIT))
        if query
        else []
    )
    context = {
        "links": links(request),
        "query": query,
        "results": [(c, services.choice_of(c)) for c in found],
        "missing": missing,
        "unknown_choice": bool(choice) and missing is None,
    }
    status = 404 if choice and missing is None else 200
    return await render_page(request, db_session, "public/sign_in.html", context, status=status)


async def send_contact(
    request: Request[Any, Any, Any], db_session: AsyncSession, data: dict[str, Any]
) -> Response[Any]:
    """The contact form, sent: one platform outbox row, then the thank-you page (POST, redirect, GET)."""
    await page_locale(request, db_session)
    form = form_fields(data)
    if form.get("website"):  # the hidden field only robots fill: thanked, nothing sent
        return Redirect("/contact/merci", status_code=303)
    outcome = await services.send_contact(
        db_session,
        _settings(request),
        request.app.state.rate_limiter,
        form,
        address=client_address(request),
    )
    if not outcome.done:
        values = {k: form.get(k, "") for k in services.CONTACT_FIELDS}
        context = {"links": links(request), "values": values, "errors": outcome.errors}
        return await render_page(request, db_session, "public/contact.html", context, status=400)
    await db_session.commit()
    await announce_platform(request.app.state.redis, outcome.message_ids)
    return Redirect("/contact/merci", status_code=303)


class PublicSiteController(Controller):
    @get("/tarifs", opt=PUBLIC_ONLY, name="public-pricing")
    async def pricing(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        q: FromQuery[str | None] = None,
        collectivite: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """Search a collectivity; the chosen one's yearly price on the default plan."""
        await page_locale(request, db_session)
        query = (q or "")[: services.QUERY_MAX]
        found = services.search(query)
        collectivity = services.chosen(collectivite)
        quote = await services.quote(db_session, collectivity) if collectivity is not None else None
        context = {
            "links": links(request),
            "query": query,
            "results": [(c, services.choice_of(c)) for c in found],
            "quote": quote,
            "population": grouped(quote.collectivity.population) if quote is not None else "",
            "unknown_choice": bool(collectivite) and collectivity is None,
        }
        status = 404 if collectivite and collectivity is None else 200
        return await render_page(request, db_session, "public/pricing.html", context, status=status)

    @get("/contact/merci", opt=PUBLIC_ONLY, name="public-contact-sent")
    async def contact_sent(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        return await render_page(request, db_session, "public/contact_sent.html", {"links": links(request)})


# The public site's pages on the paths it shares with the other sites (registered by ``bippop.assembly``).
SITE_PAGES: dict[str, SitePage] = {
    HOME: home,
    CONTACT: contact_form,
    CONTACT_SEND: send_contact,
    SIGN_IN_FORM: sign_in_form,
}
PUBLIC_SITE_CONTROLLERS = [PublicSiteController]
