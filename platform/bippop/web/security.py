"""Security headers on every response: a strict CSP (no inline or eval'd script), no framing,
no MIME sniffing, a discreet referrer, and HSTS outside development.

Personal responses also get ``Cache-Control: no-store``, so that neither a shared computer's
browser (back button, history) nor a proxy keeps them: every page for a signed-in person, every
response setting a cookie (the session's above all), and the account and single-use link pages.
Static files, and public pages for people signed out, keep their own caching.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bippop.config import Settings

# Inline *styles* stay allowed: the layout declares the tenant's colours as CSS custom properties.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


# Pages about someone's account even before they are signed in: sign-in, sign-up, reset, links.
# The console's enrolment link (``/equipe/inscription/<token>``) holds a token and an e-mail address.
PERSONAL_PATHS = (
    "/compte",
    "/connexion",
    "/inscription",
    "/mot-de-passe-oublie",
    "/lien/",
    "/session/",
    "/equipe/inscription/",
)
STATIC_PATHS = ("/static/",)
NO_STORE = (b"cache-control", b"no-store")


def is_personal(scope: Scope, headers: list[tuple[bytes, bytes]]) -> bool:
    path = scope.get("path", "")
    if path.startswith(STATIC_PATHS):
        return False
    return (
        scope.get("state", {}).get("identity") is not None
        or any(name.lower() == b"set-cookie" for name, _ in headers)
        or path.startswith(PERSONAL_PATHS)
    )


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if not settings.is_development and settings.env != "test":
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityHeadersMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.headers = security_headers(settings)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        extra = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                added = [(name, value) for name, value in extra if name not in present]
                if b"cache-control" not in present and is_personal(scope, headers):
                    added.append(NO_STORE)
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        await next_app(scope, receive, send_with_headers)
