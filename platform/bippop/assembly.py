"""What ``create_app`` wires when it assembles the application, explicitly rather than by an import's side
effect: the pages that the domains serve on paths shared by several kinds of site (``web/site_pages.py``:
``/`` for a tenant and for the co-op console, the sign-in paths for the console), and the console's own
controllers. It sits at the top of the layers with ``app``: it names the domains."""

from __future__ import annotations

from litestar import Controller

from bippop.aid.portal.home import tenant_home
from bippop.coop import controllers as coop_pages
from bippop.onboarding.public_site import controllers as public_pages
from bippop.onboarding.wizard.controllers import WIZARD_CONTROLLERS, sign_up_entry
from bippop.web.site_pages import HOME, SIGN_UP_FORM, register_site_pages


def wire_site_pages() -> list[type[Controller]]:
    """Register each site kind's shared pages; returns the co-op console's and the public site's
    controllers for the app."""
    register_site_pages("tenant", {HOME: tenant_home})
    register_site_pages("coop", coop_pages.SITE_PAGES)
    register_site_pages("public", public_pages.SITE_PAGES)
    register_site_pages("public", {SIGN_UP_FORM: sign_up_entry})  # /inscription: the onboarding wizard
    return [*coop_pages.COOP_CONTROLLERS, *public_pages.PUBLIC_SITE_CONTROLLERS, *WIZARD_CONTROLLERS]
