"""What ``create_app`` wires when it assembles the application, explicitly rather than by an import's side
effect: the pages that the domains serve on paths shared by several kinds of site (``web/site_pages.py``:
``/`` for a tenant and for the co-op console, the sign-in paths for the console), and the console's own
controllers. It sits at the top of the layers with ``app``: it names the domains."""

from __future__ import annotations

from litestar import Controller

from bippop.aid.portal.home import tenant_home
from bippop.coop import controllers as coop_pages
from bippop.web.site_pages import HOME, register_site_pages


def wire_site_pages() -> list[type[Controller]]:
    """Register each site kind's shared pages; returns the co-op console's controllers for the app."""
    register_site_pages("tenant", {HOME: tenant_home})
    register_site_pages("coop", coop_pages.SITE_PAGES)
    return list(coop_pages.COOP_CONTROLLERS)
