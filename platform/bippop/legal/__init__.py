"""The legal pages of every site: accessibility statement (RGAA model), legal notice and privacy notice.

A tenant's pages are generated from its own data — name, kind, branding contact, address — and from
what its administrators wrote at ``/gestion/pages-legales`` (the ``legal.pages`` setting: conformance
status, audit, derogations, director of publication, data protection officer, extra text). The public
site and the co-op console serve the platform's own, published by the co-operative (``BIPPOP_COOP_*``).
Retention periods are the ones the code applies, read from its constants and settings.
"""

from bippop.legal.controllers import LegalAdminController, LegalPagesController

LEGAL_CONTROLLERS = [LegalPagesController, LegalAdminController]

__all__ = ["LEGAL_CONTROLLERS"]
