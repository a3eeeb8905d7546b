"""Pages of a tenant's accounts, one module per sub-domain: ``sign_in`` (password, second factor,
sign-out), ``links`` (asking for a link by e-mail; using a single-use link: verification, reset,
invitation, sign-in), ``sign_up``, ``account`` (the account page with two-step sign-in set-up) and
``session_status`` (the session's status and extension for the expiry warning).

Every form carries the CSRF token; every error is shown next to its field, in the person's
language; no answer tells whether an address has an account. The co-op console's own pages
(``coop.controllers``) are added at assembly (``bippop.assembly``). The rules live in ``accounts/services``.
"""

from bippop.accounts.controllers.account import AccountController
from bippop.accounts.controllers.links import EmailLinkController, LinkController
from bippop.accounts.controllers.session_status import SessionController
from bippop.accounts.controllers.sign_in import SignInController, complete_sign_in
from bippop.accounts.controllers.sign_up import SignUpController

ACCOUNT_CONTROLLERS = [
    SignInController,
    EmailLinkController,
    SignUpController,
    LinkController,
    AccountController,
    SessionController,
]

__all__ = ["ACCOUNT_CONTROLLERS", "complete_sign_in"]
