"""A tenant's home page (``/`` on a tenant's host): how many volunteers, which services are on. The web
kit's ``PagesController.home`` serves ``/`` for every site and hands a tenant's host to this page
(registered at assembly, ``bippop.assembly``). A portal not yet published (``published`` setting,
``onboarding/first_steps``) shows residents and visitors « opening soon » and the town hall's contact
instead of its buttons; its staff see the page as it will be, under a banner. A visitor's page is kept
rendered a few seconds (``web.page_cache``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from sqlalchemy import any_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.accounts.permissions import STAFF
from bippop.aid.portal.common import enabled_modules
from bippop.db.reads import Read, read_together
from bippop.modules.assembly import menu_links
from bippop.web import page_cache
from bippop.web.pages import render
from bippop.web.tenant_settings import tenant_settings

# Built once: a statement built per request costs more than sending it (and keeps no cache key).
VOLUNTEERS = Read(
    select(func.count().label("volunteers"))
    .select_from(Person)
    .where(literal("volunteer") == any_(Person.roles))
)


async def tenant_home(
    request: Request[Any, Any, Any], db_session: AsyncSession, data: dict[str, Any]
) -> Response[Any]:
    settings = await tenant_settings(request)
    # A kept page was sent before this handler (web.page_cache.KeptPagesMiddleware): here, a miss.
    key = page_cache.anonymous_key(request, "home", settings)
    [[(volunteers,)]] = await read_together(db_session, [(VOLUNTEERS, {})])  # one round trip
    identity = request.scope["state"].get("identity")
    staff = identity is not None and identity.kind == "person" and bool(STAFF.intersection(identity.roles))
    services = await enabled_modules(request)
    links = menu_links("portal", frozenset(m.slug for m in services))
    context = {
        "volunteers": volunteers or 0,
        "services": services,
        "module_links": links,
        "published": settings.published,
        "staff": staff,
    }
    response = render(request, "home.html", context, default_locale=settings.default_locale)
    return response if key is None else page_cache.keep(request, key, response)
