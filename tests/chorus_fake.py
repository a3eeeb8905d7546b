"""A small Chorus Pro (and PISTE) of our own, a real HTTP server in a thread, for the Chorus Pro tests:
``with FakeChorus() as fake: fake.settings(settings)`` gives settings that point at it.

- ``POST /oauth/token``: client credentials checked (``CLIENT_ID``/``CLIENT_SECRET``), a token back;
- ``POST /cpro/factures/v1/deposer/flux``: the bearer token and ``cpro-account`` header checked, the
  payload checked (the base64 PDF must carry ``factur-x.xml``), a flux number back; ``fail_deposits``
  is a list of HTTP statuses to answer first (503: unavailable);
- ``POST /cpro/factures/v1/rechercher/fournisseur``: the invoice found once ``statuses[number]`` says
  its status (``(statut, motif)``), none before;
- ``POST /cpro/transverses/v1/consulterCR``: the flux's state, ``flux_states[flux]``
  (``IN_EN_COURS_TRAITEMENT_CPP`` by default).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import facturx

from bippop.config import Settings

CLIENT_ID = "piste-app"
CLIENT_SECRET = "piste-secret-value"
ACCOUNT = "TECH_1_coop@cpro.fr:m0t-de-passe"
SUPPLIER_ID = "26073617"


@dataclasses.dataclass
class Deposit:
    flux_id: str
    filename: str
    xml: bytes
    payload: dict[str, Any]


class FakeChorus:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.deposits: list[Deposit] = []
        self.fail_deposits: list[int] = []
        self.statuses: dict[str, tuple[str, str | None]] = {}
        self.flux_states: dict[str, tuple[str, str | None]] = {}
        self.searches: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeChorus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def settings(self, settings: Settings, **changes: Any) -> Settings:
        values = {
            "chorus_api_url": f"{self.url}/cpro",
            "chorus_oauth_url": f"{self.url}/oauth/token",
            "chorus_client_id": CLIENT_ID,
            "chorus_client_secret": CLIENT_SECRET,
            "chorus_technical_account": ACCOUNT,
            "chorus_supplier_id": SUPPLIER_ID,
        }
        return dataclasses.replace(settings, **{**values, **changes})

    # What each endpoint answers: (status, JSON body)

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        expected = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        if any(form.get(key) != value for key, value in expected.items()):
            return 401, {"error": "invalid_client", "error_description": "Bad client credentials"}
        with self.lock:
            token = f"token-{len(self.tokens) + 1}"
            self.tokens.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "openid"}

    def authorised(self, headers: Any) -> bool:
        bearer = str(headers.get("Authorization", "")).removeprefix("Bearer ")
        account = base64.b64encode(ACCOUNT.encode()).decode()
        return bearer in self.tokens and headers.get("cpro-account") == account

    def deposit(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.fail_deposits:
                return self.fail_deposits.pop(0), {"message": "Service indisponible"}
        wanted = {"syntaxeFlux": "IN_DP_E2_CII_FACTURX", "avecSignature": False}
        if any(payload.get(key) != value for key, value in wanted.items()) or not payload.get("nomFichier"):
            return 400, {"codeRetour": 1, "libelle": "Paramètres du flux invalides"}
        try:
            pdf = base64.b64decode(payload["fichierFlux"], validate=True)
            filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
        except Exception:  # the fake says no to anything that is not a Factur-X PDF
            return 400, {"codeRetour": 1, "libelle": "Le fichier n'est pas une facture Factur-X"}
        if filename != "factur-x.xml" or not xml:
            return 400, {"codeRetour": 1, "libelle": "Le fichier n'est pas une facture Factur-X"}
        with self.lock:
            flux_id = f"CPP{len(self.deposits) + 1:019d}"
            self.deposits.append(Deposit(flux_id, str(payload["nomFichier"]), xml, payload))
        return 200, {
            "codeRetour": 0,
            "libelle": "GCU_MSG_01_000",
            "numeroFluxDepot": flux_id,
            "dateDepot": "2027-07-01",
        }

    def search(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.searches.append(payload)
        if payload.get("idFournisseur") != SUPPLIER_ID:
            return 400, {"codeRetour": 1, "libelle": "Fournisseur inconnu"}
        number = str(payload.get("numeroFacture"))
        if number not in self.statuses:
            return 200, {"codeRetour": 0, "libelle": "OK", "listeFactures": []}
        status, reason = self.statuses[number]
        item: dict[str, Any] = {"idFacture": 4242, "numeroFacture": number, "statut": status}
        if reason:
            item["motifRejet"] = reason
        return 200, {"codeRetour": 0, "libelle": "OK", "listeFactures": [item]}

    def flux_report(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        state, reason = self.flux_states.get(
            str(payload.get("numeroFluxDepot")), ("IN_EN_COURS_TRAITEMENT_CPP", None)
        )
        body: dict[str, Any] = {"codeRetour": 0, "etatCourantFlux": state}
        if reason:
            body["libelle"] = reason
        return 200, body


def _handler(fake: FakeChorus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/oauth/token":
                form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                self._answer(*fake.token(form))
                return
            if not fake.authorised(self.headers):
                self._answer(401, {"error": "invalid_token"})
                return
            payload = json.loads(raw or b"{}")
            routes = {
                "/cpro/factures/v1/deposer/flux": fake.deposit,
                "/cpro/factures/v1/rechercher/fournisseur": fake.search,
                "/cpro/transverses/v1/consulterCR": fake.flux_report,
            }
            route = routes.get(self.path)
            if route is None:
                self._answer(404, {"message": "not found"})
                return
            self._answer(*route(payload))

    return Handler
