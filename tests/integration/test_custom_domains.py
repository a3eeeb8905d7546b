"""Custom domains (``/gestion/apparence/domaines``): added unverified, verified through a real DNS TXT
record (a UDP DNS server on loopback built with dnspython), made the main address, removed; what the
check found instead is told; another tenant's domain ids are not found; the host cache follows."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.accounts.models import AuditEvent
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.models import Domain
from support import BASE_DOMAIN, csrf_token, host, log_in, make_person, make_tenant

SLUG, OTHER = "domaines", "domaines-b"
HTML = {"Accept": "text/html"}
Client = TestClient[Litestar]


class TxtServer:
    """A DNS server on 127.0.0.1 answering TXT questions from ``records`` (name → values), else NXDOMAIN."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while True:
            try:
                wire, address = self.socket.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            values = self.records.get(name)
            if values is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.TXT:
                quoted = [f'"{value}"' for value in values]
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, *quoted)
                )
            self.socket.sendto(response.to_wire(), address)


@pytest.fixture(scope="module")
def dns_server() -> Iterator[TxtServer]:
    server = TxtServer()
    server.thread.start()
    yield server
    server.socket.close()


@pytest.fixture(scope="module")
def council(settings: Settings) -> TenantRef:
    return make_tenant(settings, SLUG, "Domaineville")


@pytest.fixture(scope="module")
def neighbour(settings: Settings) -> TenantRef:
    return make_tenant(settings, OTHER, "Voisine", domains=["portail.voisine.fr"])


@contextlib.contextmanager
def admin(settings: Settings, resources: PlatformResources, tenant: TenantRef, slug: str) -> Iterator[Client]:
    with TestClient(
        create_app(settings), base_url=f"http://{BASE_DOMAIN}", cookies={"bippop_lang": "en"}
    ) as web:
        _id, email, secret = make_person(resources, tenant, ["tenant_admin"], totp=True)
        log_in(web, slug, email, secret)
        yield web


def post(web: Client, path: str, data: dict[str, Any] | None = None, slug: str = SLUG) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, slug)
    return web.post(
        path,
        data={**(data or {}), "_csrf_token": token},
        headers={**host(slug), **HTML},
        follow_redirects=False,
    )


def domain_row(resources: PlatformResources, hostname: str) -> Domain | None:
    with resources.sessions()() as session:
        return session.scalar(select(Domain).where(Domain.hostname == hostname))


def test_a_domain_is_added_verified_by_dns_made_main_and_removed(
    settings: Settings, resources: PlatformResources, council: TenantRef, dns_server: TxtServer
) -> None:
    local = dataclasses.replace(settings, dns_nameservers=f"127.0.0.1:{dns_server.port}")
    with admin(local, resources, council, SLUG) as web:
        added = post(web, "/gestion/apparence/domaines", {"domain": "  Aide.Domaineville.FR. "})
        assert added.status_code == 303, added.text
        row = domain_row(resources, "aide.domaineville.fr")
        assert row is not None and row.verified_at is None and row.verification_token
        page = web.get("/gestion/apparence/domaines", headers={**host(SLUG), **HTML}).text
        assert "_bippop-verification.aide.domaineville.fr" in page
        assert f"bippop-verification={row.verification_token}" in page
        assert web.get("/", headers=host("aide.domaineville.fr")).status_code == 404  # not served yet
        # Nothing at the name yet, then the wrong value: each time, what was found is told.
        nothing = post(web, f"/gestion/apparence/domaines/{row.id}/verifier")
        assert "No TXT record was found at _bippop-verification.aide.domaineville.fr" in nothing.text
        dns_server.records["_bippop-verification.aide.domaineville.fr"] = ["bippop-verification=wrong"]
        wrong = post(web, f"/gestion/apparence/domaines/{row.id}/verifier")
        assert "holds « bippop-verification=wrong », not the expected value" in wrong.text
        refused = post(web, f"/gestion/apparence/domaines/{row.id}/principal")
        assert refused.status_code == 400 and "Only a verified domain" in refused.text
        dns_server.records["_bippop-verification.aide.domaineville.fr"] = [
            "v=spf1 -all",
            f"bippop-verification={row.verification_token}",
        ]
        verified = post(web, f"/gestion/apparence/domaines/{row.id}/verifier")
        assert verified.status_code == 303, verified.text
        assert domain_row(resources, "aide.domaineville.fr").verified_at is not None  # type: ignore[union-attr]
        assert "Domaineville" in web.get("/", headers=host("aide.domaineville.fr")).text  # served at once
        assert post(web, f"/gestion/apparence/domaines/{row.id}/principal").status_code == 303
        assert domain_row(resources, "aide.domaineville.fr").is_primary  # type: ignore[union-attr]
        assert post(web, f"/gestion/apparence/domaines/{row.id}/supprimer").status_code == 303
        assert domain_row(resources, "aide.domaineville.fr") is None
        assert web.get("/", headers=host("aide.domaineville.fr")).status_code == 404  # cache cleared
    with resources.sessions()(info={"tenant": council}) as session:
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("domain_%"))))
    assert actions == {"domain_added", "domain_verified", "domain_primary_set", "domain_removed"}


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("http://aide.example.fr/", "Enter a domain name like"),
        (f"x.{BASE_DOMAIN}", "own domain: your portal already has it"),
        ("portail.voisine.fr", "already used by a portal"),
        ("localhost", "not a public domain name"),
        ("127.0.0.1", "not a public domain name"),
        ("0x7f.1", "not a public domain name"),
        ("intranet.mairie.local", "not a public domain name"),
    ],
)
def test_refused_domains_say_why_next_to_the_field(
    settings: Settings,
    resources: PlatformResources,
    council: TenantRef,
    neighbour: TenantRef,
    typed: str,
    message: str,
) -> None:
    with admin(settings, resources, council, SLUG) as web:
        refused = post(web, "/gestion/apparence/domaines", {"domain": typed})
        assert refused.status_code == 400
        assert re.search(r'id="error-domain">.*' + re.escape(message), refused.text)
        assert f'value="{typed}"' in refused.text


def test_another_tenants_domain_ids_are_not_found(
    settings: Settings, resources: PlatformResources, council: TenantRef, neighbour: TenantRef
) -> None:
    theirs = domain_row(resources, "portail.voisine.fr")
    assert theirs is not None
    with admin(settings, resources, council, SLUG) as web:
        for action in ("verifier", "principal", "supprimer"):
            assert post(web, f"/gestion/apparence/domaines/{theirs.id}/{action}").status_code == 404
    assert domain_row(resources, "portail.voisine.fr") is not None


def test_unreachable_dns_servers_are_told_calmly(
    settings: Settings, resources: PlatformResources, council: TenantRef
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        local = dataclasses.replace(settings, dns_nameservers=f"127.0.0.1:{silent.getsockname()[1]}")
        with admin(local, resources, council, SLUG) as web:
            assert (
                post(web, "/gestion/apparence/domaines", {"domain": "muet.domaineville.fr"}).status_code
                == 303
            )
            row = domain_row(resources, "muet.domaineville.fr")
            answer = post(web, f"/gestion/apparence/domaines/{row.id}/verifier")  # type: ignore[union-attr]
            assert answer.status_code == 200 and "did not answer" in answer.text
            post(web, f"/gestion/apparence/domaines/{row.id}/supprimer")  # type: ignore[union-attr]


def test_a_pending_claim_blocks_nobody_and_the_proof_removes_the_others(
    settings: Settings,
    resources: PlatformResources,
    council: TenantRef,
    neighbour: TenantRef,
    dns_server: TxtServer,
) -> None:
    """A stranger adding a council's domain first (unproved) cannot keep the council from it: both
    may claim it, the one whose DNS holds its token gets it, and the other claim goes."""
    local = dataclasses.replace(settings, dns_nameservers=f"127.0.0.1:{dns_server.port}")
    name = "portail.vraie-mairie.fr"
    with admin(local, resources, neighbour, OTHER) as squatter:
        assert post(squatter, "/gestion/apparence/domaines", {"domain": name}, slug=OTHER).status_code == 303
        again = post(squatter, "/gestion/apparence/domaines", {"domain": name}, slug=OTHER)
        assert again.status_code == 400 and "already used" in again.text  # one claim per tenant
    with admin(local, resources, council, SLUG) as web:
        assert post(web, "/gestion/apparence/domaines", {"domain": name}).status_code == 303
        with resources.sessions()() as session:
            claims = {d.tenant_id: d for d in session.scalars(select(Domain).where(Domain.hostname == name))}
        assert set(claims) == {council.id, neighbour.id}
        mine = claims[council.id]
        dns_server.records[f"_bippop-verification.{name}"] = [
            f"bippop-verification={mine.verification_token}"
        ]
        assert post(web, f"/gestion/apparence/domaines/{mine.id}/verifier").status_code == 303
    with resources.sessions()() as session:
        left = list(session.scalars(select(Domain).where(Domain.hostname == name)))
    assert [(d.tenant_id, d.verified_at is not None) for d in left] == [(council.id, True)]
    with admin(local, resources, neighbour, OTHER) as squatter:  # now it is taken for good
        refused = post(squatter, "/gestion/apparence/domaines", {"domain": name}, slug=OTHER)
        assert refused.status_code == 400 and "already used" in refused.text
