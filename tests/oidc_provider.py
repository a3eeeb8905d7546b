"""A small OpenID provider for the tests, standing in for FranceConnect and ProConnect.

A real HTTP server on 127.0.0.1 (a thread, ``http.server``): discovery, JWKS, ``/authorize`` (no
login page: it sends the browser straight back with a code, or with ``error=access_denied`` when
``cancel`` is set), ``/token`` (checks the client's credentials, the code, the redirect URI and
PKCE, and answers with an RS256 ID token signed by a key generated at start) and ``/userinfo``
(JSON, or a signed JWT like ProConnect when ``userinfo_as_jwt`` is set).

``tamper`` makes the next ID token wrong in one way: ``nonce``, ``aud``, ``iss``, ``acr``,
``expired``, ``signature`` (signed with a key the provider does not publish), ``forged`` (that
key, but naming the published key's id).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

TAMPERINGS = ("nonce", "aud", "iss", "acr", "expired", "signature", "forged")


class MockProvider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
        self.stranger_key = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, auto_kid=True)
        self.clients: dict[str, str] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="mock-op", daemon=True)
        self.reset()

    # -- set-up, per test -------------------------------------------------------------------

    def reset(self) -> None:
        self.user: dict[str, Any] = {}
        self.tamper: str | None = None
        self.cancel = False
        self.userinfo_as_jwt = False
        self.acr = "eidas1"
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests = 0
        self._codes: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}

    def register(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def start(self) -> MockProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # -- what the endpoints answer ------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
            "scopes_supported": ["openid", "email", "given_name", "family_name", "usual_name"],
        }

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))

    def authorize(self, query: dict[str, str]) -> str:
        """Where the browser goes next: back to the client with a code (or an error)."""
        with self._lock:
            self.authorize_requests.append(dict(query))
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") not in self.clients or query.get("response_type") != "code":
            raise ValueError("unknown client or response type")
        if self.cancel:
            return f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': query.get('state', '')})}"
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "client_id": query["client_id"],
                "redirect_uri": redirect_uri,
                "nonce": query.get("nonce"),
                "challenge": query.get("code_challenge"),
                "user": dict(self.user),
                "tamper": self.tamper,
                "acr": self.acr,
            }
        return f"{redirect_uri}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def _client_of(self, headers: Any, form: dict[str, str]) -> str | None:
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            raw = base64.b64decode(auth[6:]).decode()
            client_id, _, secret = raw.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        expected = self.clients.get(client_id)
        return client_id if expected is not None and secrets.compare_digest(expected, secret) else None

    def token(self, headers: Any, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.token_requests += 1
            grant = self._codes.pop(form.get("code", ""), None)
        client_id = self._client_of(headers, form)
        if client_id is None:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code" or grant is None or grant["client_id"] != client_id:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        if grant["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if digest != grant["challenge"]:
                return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant["user"]["sub"],
            "aud": client_id,
            "exp": now + 60,
            "iat": now,
            "nonce": grant["nonce"],
            "acr": grant["acr"],
        }
        key, kid = self.key, self.key.kid
        tamper = grant["tamper"]
        if tamper == "nonce":
            claims["nonce"] = "not-the-nonce-you-sent"
        elif tamper == "aud":
            claims["aud"] = "someone-else"
        elif tamper == "iss":
            claims["iss"] = "https://impostor.example"
        elif tamper == "acr":
            claims["acr"] = "eidas0"
        elif tamper == "expired":
            claims["exp"], claims["iat"] = now - 600, now - 1200
        elif tamper == "signature":
            key, kid = self.stranger_key, self.stranger_key.kid
        elif tamper == "forged":
            key = self.stranger_key
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = {"user": grant["user"], "client_id": client_id}
        id_token = jwt.encode({"alg": "RS256", "kid": kid}, claims, key)
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 60,
            "id_token": id_token,
        }

    def userinfo(self, headers: Any) -> tuple[int, str, bytes]:
        auth = headers.get("Authorization", "")
        grant = self._access_tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if grant is None:
            return 401, "application/json", b'{"error": "invalid_token"}'
        if self.userinfo_as_jwt:
            claims = {**grant["user"], "iss": self.issuer, "aud": grant["client_id"]}
            return (
                200,
                "application/jwt",
                jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key).encode(),
            )
        return 200, "application/json", json.dumps(grant["user"]).encode()


def _handler(provider: MockProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: bytes, media_type: str = "application/json", **headers: str
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any]) -> None:
            self._send(status, json.dumps(data).encode())

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif parts.path == "/jwks":
                self._json(200, provider.jwks())
            elif parts.path == "/authorize":
                try:
                    self._send(302, b"", "text/plain", Location=provider.authorize(query))
                except ValueError:
                    self._json(400, {"error": "invalid_request"})
            elif parts.path == "/userinfo":
                status, media_type, body = provider.userinfo(self.headers)
                self._send(status, body, media_type)
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token":
                status, data = provider.token(self.headers, form)
                self._json(status, data)
            else:
                self._json(404, {"error": "not_found"})

    return Handler
