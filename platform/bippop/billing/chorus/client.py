"""Chorus Pro's API through PISTE: an OAuth2 token (client credentials), the technical account's
``cpro-account`` header, the deposit of a Factur-X PDF and what became of it.

The shapes (Chorus Pro's « API Factures » and « API Transverses », v1), as published by the AIFE and
used by the open clients we found; where the documentation was not at hand they are our assumption:

- token: ``POST <chorus_oauth_url>`` form ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``, ``scope=openid`` → ``{"access_token", "expires_in"}`` (seconds). The token is kept
  until a minute before it expires (per process, per client id), then asked again; a 401 from the API
  drops it and the call is tried once more with a new one. The cache's key holds a hash of the client
  secret: new credentials never reuse the old ones' token.
- every call: ``Authorization: Bearer <token>`` and ``cpro-account: base64("login:password")``
  (``chorus_technical_account``), JSON in and out, ``codeRetour`` 0 when it went well.
- deposit: ``POST <api>/factures/v1/deposer/flux`` ``{"idUtilisateurCourant": 0, "fichierFlux":
  base64(pdf), "nomFichier", "syntaxeFlux": "IN_DP_E2_CII_FACTURX", "avecSignature": false}`` →
  ``{"codeRetour": 0, "numeroFluxDepot", "dateDepot"}``: the flux number is our ``remote_id``.
- status: ``POST <api>/factures/v1/rechercher/fournisseur`` ``{"idFournisseur": chorus_supplier_id,
  "numeroFacture"}`` → ``{"listeFactures": [{"idFacture", "numeroFacture", "statut", "motifRejet"?,
  "commentaire"?}]}``. Until the flux is integrated the invoice is not found there: then
  ``POST <api>/transverses/v1/consulterCR`` ``{"numeroFluxDepot"}`` → ``{"etatCourantFlux",
  "libelle"?}`` says whether the flux itself was rejected (``IN_REJETE``, ``IN_INCIDENTE``).

Errors: a timeout, a network failure or an HTTP 5xx is :class:`ChorusUnavailable` (try again later);
another 4xx, or a ``codeRetour`` other than 0, is :class:`ChorusRefused` with Chorus Pro's words.
Logs carry status codes and ids only, never a credential, a token or a reply's text.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
import time
from typing import Any

import httpx
import structlog

from bippop.config import Settings

log = structlog.get_logger(__name__)

SYNTAX = "IN_DP_E2_CII_FACTURX"
DEPOSIT_PATH = "factures/v1/deposer/flux"
SEARCH_PATH = "factures/v1/rechercher/fournisseur"
FLUX_REPORT_PATH = "transverses/v1/consulterCR"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TOKEN_MARGIN = 60.0  # seconds before its expiry a token is no longer used
MAX_REASON = 500

DEPOSITED, REJECTED, PAID = "deposited", "rejected", "paid"
REJECTED_STATUSES = frozenset({"REJETEE", "SUSPENDUE"})
PAID_STATUSES = frozenset({"MANDATEE", "MISE_EN_PAIEMENT", "COMPLETEE", "COMPTABILISEE"})
REJECTED_FLUX = frozenset({"IN_REJETE", "IN_INCIDENTE"})


class ChorusError(Exception):
    """Something kept the call from going through; ``reason`` is safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:MAX_REASON]


class ChorusUnavailable(ChorusError):
    """Chorus Pro did not answer, or answered with a 5xx: try again later."""


class ChorusRefused(ChorusError):
    """Chorus Pro refused the call (4xx, bad credentials, a refused payload): trying again changes
    nothing until someone corrects what it says."""


@dataclasses.dataclass(frozen=True)
class ChorusConfig:
    api_url: str
    oauth_url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    technical_account: str = dataclasses.field(repr=False)
    supplier_id: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ChorusConfig | None:
        """The API's settings, or None when any is missing (invoices then go by export only)."""
        values = (
            settings.chorus_api_url,
            settings.chorus_oauth_url,
            settings.chorus_client_id,
            settings.chorus_client_secret,
            settings.chorus_technical_account,
            settings.chorus_supplier_id,
        )
        if not all(values):
            return None
        api, oauth, client_id, secret, account, supplier = (str(value) for value in values)
        return cls(api.rstrip("/") + "/", oauth, client_id, secret, account, supplier)


@dataclasses.dataclass(frozen=True)
class Deposit:
    flux_id: str


@dataclasses.dataclass(frozen=True)
class RemoteStatus:
    """What Chorus Pro says: ``status`` is ours (None while nothing is known yet)."""

    status: str | None
    remote_status: str | None = None
    reason: str | None = None


def our_status(remote: str) -> str:
    """Chorus Pro's invoice status in our words: rejected, paid, or deposited (any other)."""
    if remote in REJECTED_STATUSES:
        return REJECTED
    if remote in PAID_STATUSES:
        return PAID
    return DEPOSITED


_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached token (tests, or after the credentials change)."""
    with _tokens_lock:
        _tokens.clear()


def _reason(response: httpx.Response) -> str:
    """Chorus Pro's or PISTE's words about a refusal (stored and shown, never logged)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("libelle", "error_description", "message", "error"):
            if body.get(key):
                return f"HTTP {response.status_code}: {body[key]}"
    return f"HTTP {response.status_code}"


class ChorusClient:
    """One conversation with Chorus Pro (sync: jobs call it, the console from a worker thread)."""

    def __init__(self, config: ChorusConfig, http: httpx.Client | None = None) -> None:
        self.config = config
        self.http = http or httpx.Client(timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ChorusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _token(self, fresh: bool = False) -> str:
        secret = hashlib.sha256(self.config.client_secret.encode()).hexdigest()
        key = (self.config.oauth_url, self.config.client_id, secret)
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached is not None and not fresh and cached[1] > time.monotonic():
                return cached[0]
        data = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "scope": "openid",
        }
        response = self._send("POST", self.config.oauth_url, data=data)
        if response.status_code == 401:  # bad client credentials
            log.info("chorus_refused", path=httpx.URL(self.config.oauth_url).path, status=401)
            raise ChorusRefused(_reason(response))
        try:
            body = response.json()
            token, lifetime = str(body["access_token"]), float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ChorusUnavailable("PISTE answered without a token") from None
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + max(lifetime - TOKEN_MARGIN, 0.0))
        return token

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            log.warning("chorus_timeout", path=httpx.URL(url).path)
            raise ChorusUnavailable("Chorus Pro did not answer in time") from None
        except httpx.HTTPError as exc:
            log.warning("chorus_unreachable", path=httpx.URL(url).path, error=type(exc).__name__)
            raise ChorusUnavailable("Chorus Pro could not be reached") from None
        if response.status_code >= 500:
            log.warning("chorus_unavailable", path=httpx.URL(url).path, status=response.status_code)
            raise ChorusUnavailable(_reason(response))
        if response.status_code >= 400 and response.status_code != 401:  # a 401: the caller's to say
            log.info("chorus_refused", path=httpx.URL(url).path, status=response.status_code)
            raise ChorusRefused(_reason(response))
        return response

    def _headers(self, token: str) -> dict[str, str]:
        account = base64.b64encode(self.config.technical_account.encode()).decode("ascii")
        return {"Authorization": f"Bearer {token}", "cpro-account": account, "Accept": "application/json"}

    def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` to ``path`` under the API's URL; the JSON reply (``codeRetour`` 0)."""
        url = self.config.api_url + path
        response = self._send("POST", url, json=payload, headers=self._headers(self._token()))
        if response.status_code == 401:  # the token expired early: once more with a new one
            response = self._send("POST", url, json=payload, headers=self._headers(self._token(fresh=True)))
            if response.status_code == 401:
                log.info("chorus_refused", path=httpx.URL(url).path, status=401)
                raise ChorusRefused(_reason(response))
        try:
            body = response.json()
        except ValueError:
            raise ChorusUnavailable("Chorus Pro answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise ChorusUnavailable("Chorus Pro answered something unexpected")
        if str(body.get("codeRetour", 0)) != "0":
            raise ChorusRefused(str(body.get("libelle") or f"codeRetour {body.get('codeRetour')}"))
        return body

    def deposit(self, pdf: bytes, filename: str) -> Deposit:
        """Deposit one Factur-X PDF; the flux number Chorus Pro gives it."""
        payload = {
            "idUtilisateurCourant": 0,
            "fichierFlux": base64.b64encode(pdf).decode("ascii"),
            "nomFichier": filename,
            "syntaxeFlux": SYNTAX,
            "avecSignature": False,
        }
        body = self.call(DEPOSIT_PATH, payload)
        flux_id = body.get("numeroFluxDepot")
        if not flux_id:
            raise ChorusUnavailable("Chorus Pro gave no flux number")
        return Deposit(str(flux_id))

    def find(self, invoice_number: str) -> tuple[str, RemoteStatus] | None:
        """The invoice as Chorus Pro lists it once integrated (its id there, its status), or None."""
        found = self.call(
            SEARCH_PATH, {"idFournisseur": self.config.supplier_id, "numeroFacture": invoice_number}
        )
        invoices = [item for item in found.get("listeFactures") or [] if isinstance(item, dict)]
        if not invoices:
            return None
        remote = str(invoices[0].get("statut") or "")
        status = our_status(remote)
        reason = invoices[0].get("motifRejet") or invoices[0].get("commentaire")
        text = str(reason)[:MAX_REASON] if status == REJECTED and reason else None
        if status == REJECTED and text is None:
            text = remote
        remote_id = str(invoices[0].get("idFacture") or invoice_number)
        return remote_id, RemoteStatus(status, remote, text)

    def status(self, flux_id: str, invoice_number: str) -> RemoteStatus:
        """What became of the invoice deposited as ``flux_id``."""
        listed = self.find(invoice_number)
        if listed is not None:
            return listed[1]
        report = self.call(FLUX_REPORT_PATH, {"numeroFluxDepot": flux_id})
        state = str(report.get("etatCourantFlux") or "")
        if state in REJECTED_FLUX:
            return RemoteStatus(REJECTED, state, str(report.get("libelle") or state)[:MAX_REASON])
        return RemoteStatus(None, state or None)
