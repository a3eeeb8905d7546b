"""A portal's appearance, set by its administrator: the branding editor (name, tagline, default language,
the town hall's contact, logo, theme, colours) and the custom domains, plus ``/logo``, the logo served.

``services`` and ``domains`` hold the use cases; the tenant row is changed through the registry
(``registry``), the logo is checked by its content (``images``) and kept in the tenant's storage folder.
"""

from bippop.appearance.controllers import AppearanceController, LogoController
from bippop.appearance.domain_pages import DomainsController

APPEARANCE_CONTROLLERS = [AppearanceController, DomainsController, LogoController]

__all__ = ["APPEARANCE_CONTROLLERS"]
