"""The isolation matrix: every route, every role, every way in — and never a byte of another tenant.

Alpha plays the attacker's side and beta the victim (and the other way round on beta's
own host). Each tenant's schema, storage folder and cache hold unique markers; then,
drawn by hypothesis, at least 10,000 attempts per run:

- every route of Litestar's route table (a new route is covered without touching this
  file), every one of its methods, path parameters filled with the victim's ids, slug,
  storage keys and traversals, on alpha's hosts, look-alike, unknown, invalid and
  platform hosts, with forged forwarding/tenant headers, forged cookies and queries;
- alpha's ``TenantFiles`` asked for the victim's files by every trick of naming;
- alpha's cache keys built from hostile parts;
- job messages sent in alpha's scope (and forged ones) naming the victim's rows,
  run by a real dramatiq worker;
- cookies set on one tenant's host replayed on the other's.

An attempt "succeeds" (for the attacker) when a response is a 5xx, a host or route
that must answer 404/400 does not, or any of the victim's data shows in a response.
The last test checks the totals: >= 10,000 attempts, 0 successes.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import datetime
import functools
import html
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import dramatiq
import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from litestar.utils import normalize_path
from sqlalchemy import delete, select, text

import bippop.broker  # noqa: F401  (the actors below are declared on the platform's broker)
from bippop.accounts.mfa import mfa_required
from bippop.accounts.models import ROLES as PERSON_ROLES
from bippop.accounts.models import Person, Setting
from bippop.app import create_app
from bippop.billing.models import INVOICE, Invoice
from bippop.billing.services.documents import document_key
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.storage import InvalidKey, LocalStorage, Storage, TenantFiles, storage_from_settings
from bippop.tenants.context import TenantRef, current_tenant, tenant_cache_key, tenant_scope
from bippop.tenants.job_middleware import TENANT_OPTION, CrossTenantMessage
from bippop.tenants.resolution import ANY_SITE, DEFAULT_SITES
from plugin_modules import installed_plugins
from support import (
    BASE_DOMAIN,
    DEFAULT_PASSWORD,
    forget_tenant_settings,
    make_person,
    running_worker,
    totp_now,
)

# Roles --------------------------------------------------------------------------------------------------

# Every attempt is made as each of these roles, signed in on ALPHA's host (a person holding just that
# role; coordinators and administrators with their second factor). The matrix replays their cookies and
# CSRF header against every route, host and forgery, and `test_cookies_from_one_tenant_are_worthless_on_another`
# replays them on the other tenant's host.
ROLES: tuple[str, ...] = ("anonymous", *PERSON_ROLES)
# Drawn with these routes, a signed-in attempt would end its own session for all the attempts after it.
SESSION_ENDING_ROUTES = ("sign-out", "sign-out-everywhere")
# Pages that show what earlier requests sent (see `check` below).
ECHOING_ROUTES = ("admin-audit-log",)


@dataclasses.dataclass(frozen=True)
class Credentials:
    cookies: dict[str, str]
    headers: dict[str, str]


def sign_in(
    client: TestClient[Litestar], role: str, host: str, tenant: TenantRef, resources: PlatformResources
) -> Credentials:
    if role == "anonymous":
        return Credentials(cookies={}, headers={})
    if role not in PERSON_ROLES:
        raise ValueError(f"no sign-in written for role {role!r}")
    _, email, secret = make_person(
        resources, tenant, [role], totp=mfa_required([role]), name=f"Matrix {role}"
    )
    client.cookies.clear()
    client.get("/connexion", headers={"Host": host})
    token = str(client.cookies.get("csrftoken"))
    form = {"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token}
    response = client.post("/connexion", data=form, headers={"Host": host}, follow_redirects=False)
    if secret:
        assert response.headers["location"] == "/connexion/code", response.text
        response = client.post(
            "/connexion/code",
            data={"code": totp_now(secret), "_csrf_token": token},
            headers={"Host": host},
            follow_redirects=False,
        )
    assert response.status_code == 303, response.text
    cookies = {
        name: value for name, value in client.cookies.items() if name in ("bippop_session", "csrftoken")
    }
    assert "bippop_session" in cookies, (role, dict(client.cookies))
    client.cookies.clear()
    return Credentials(cookies=cookies, headers={"x-csrftoken": token})


# Budget ---------------------------------------------------------------------------------------------------

MIN_ATTEMPTS = 10_000
HTTP_EXAMPLES = 10_000
HTTP_BATCH = 4
STORAGE_EXAMPLES = 300
CACHE_EXAMPLES = 1_000
JOB_EXAMPLES = 120

# (category, role) → attempts; every attempt the attacker won, described.
ATTEMPTS: collections.Counter[tuple[str, str]] = collections.Counter()
SUCCESSES: list[str] = []


def settle(category: str, role: str, problems: list[str], what: str | Callable[[], str]) -> None:
    """Counts one attempt; a problem is a success for the attacker, recorded, then failed on (hypothesis shrinks)."""
    ATTEMPTS[(category, role)] += 1
    if problems:
        described = what if isinstance(what, str) else what()
        SUCCESSES.append(f"[{category}/{role}] {described}: {problems}")
        raise AssertionError(f"{described}\n" + "\n".join(problems))


def matrix_settings(max_examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        # No "explain" phase: on a failure it replays the request thousands of times; the shrunk example is enough.
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# The two tenants and their markers -----------------------------------------------------------------------

# The custom domains conftest gives the two tenants.
DOMAINS = {"alpha": "aide.alphaville.fr", "beta": "entraide.betaville.fr"}
MARKER_FILE = ("matrix", "marker.txt")
MATRIX_TOUCHED_SETTINGS = ("modules.enabled", "module.events", "published")


@dataclasses.dataclass(frozen=True)
class Seeded:
    """One tenant and the unique markers planted in its schema, storage folder and cache."""

    ref: TenantRef
    domain: str
    person_id: uuid.UUID
    person_marker: str
    file_marker: str
    storage_key: str
    storage_path: Path | None
    cache_key: str
    cache_marker: str
    invoice_id: uuid.UUID  # an invoice of the co-op to this tenant (platform table), its PDF stored
    invoice_number: str
    pdf_marker: str
    pdf_key: str

    @property
    def host(self) -> str:
        return f"{self.ref.slug}.{BASE_DOMAIN}"

    @property
    def hosts(self) -> tuple[str, ...]:
        return (self.host, self.domain)

    def secrets(self) -> tuple[str, ...]:
        """Never in a request, so never excused: any sighting outside the tenant's own site is a leak."""
        branding = tuple(str(v) for v in self.ref.branding.values() if isinstance(v, str) and len(v) >= 6)
        return (
            self.ref.name,
            self.person_marker,
            self.file_marker,
            self.cache_marker,
            self.pdf_marker,
            *branding,
        )

    @functools.cached_property
    def secret_forms(self) -> tuple[tuple[str, frozenset[str]], ...]:
        return tuple((secret, frozenset(_forms(secret))) for secret in self.secrets())

    @functools.cached_property
    def identifier_forms(self) -> tuple[tuple[str, frozenset[str]], ...]:
        return tuple((ident.lower(), frozenset(_forms(ident.lower()))) for ident in self.identifiers())

    def identifiers(self) -> tuple[str, ...]:
        """What the attacker knows and sends; echoed back only where the request itself carried it."""
        return (
            str(self.ref.id),
            self.ref.id.hex,
            str(self.person_id),
            self.person_id.hex,
            str(self.invoice_id),
            self.invoice_id.hex,
            self.invoice_number,
            self.domain,
            self.ref.schema,
            self.ref.role,
        )


@dataclasses.dataclass(frozen=True)
class World:
    alpha: Seeded
    beta: Seeded
    storage: Storage
    static_dir: Path

    def by_slug(self, slug: str) -> Seeded:
        return self.alpha if slug == "alpha" else self.beta


def _seed(resources: PlatformResources, storage: Storage, ref: TenantRef) -> Seeded:
    tag = uuid.uuid4().hex
    person_id = uuid.uuid4()
    person_marker = f"secret-{ref.slug}-{tag}"
    with resources.sessions()(info={"tenant": ref}) as session, session.begin():
        session.add(Person(id=person_id, display_name=person_marker, roles=["volunteer"]))
        # The third-party module's own table (``plugins``): its page must show only its tenant's rows.
        session.execute(
            text("insert into gardening_plots (id, name) values (:id, :name)"),
            {"id": uuid.uuid4(), "name": person_marker},
        )
    files = TenantFiles(storage, ref)
    file_marker = f"secret-file-{ref.slug}-{tag}"
    files.put(*MARKER_FILE, file_marker.encode())
    cache_key = tenant_cache_key("matrix", "marker", tenant=ref)
    cache_marker = f"secret-cache-{ref.slug}-{tag}"
    assert resources.redis is not None
    resources.redis.set(cache_key, cache_marker, ex=3600)
    key = files.key(*MARKER_FILE)
    invoice, pdf_marker = _seed_invoice(resources, storage, ref, tag)
    return Seeded(
        ref=ref,
        domain=DOMAINS[ref.slug],
        person_id=person_id,
        person_marker=person_marker,
        file_marker=file_marker,
        storage_key=key,
        storage_path=storage.root / key if isinstance(storage, LocalStorage) else None,
        cache_key=cache_key,
        cache_marker=cache_marker,
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        pdf_marker=pdf_marker,
        pdf_key=str(invoice.pdf_key),
    )


def _seed_invoice(
    resources: PlatformResources, storage: Storage, ref: TenantRef, tag: str
) -> tuple[Invoice, str]:
    """An issued invoice to the tenant (a year of its own, far off: its number is unique) and its PDF."""
    year, sequence = 4000 + uuid.uuid4().int % 5000, 1 + uuid.uuid4().int % 999_999
    day = datetime.date(year, 1, 1)
    invoice = Invoice(
        id=uuid.uuid4(),
        tenant_id=ref.id,
        kind=INVOICE,
        number=f"{year}-{sequence:06d}",
        year=year,
        sequence=sequence,
        issued_at=datetime.datetime(year, 1, 1, 9, tzinfo=datetime.UTC),
        issue_date=day,
        due_date=day + datetime.timedelta(days=30),
        total_excl_vat=Decimal("10.00"),
        vat_total=Decimal("2.00"),
        total_incl_vat=Decimal("12.00"),
        lines=[],
        buyer={"name": f"secret-buyer-{ref.slug}-{tag}", "siret": "21690123100011"},
        seller={"name": "Bip Pop"},
    )
    invoice.pdf_key = document_key(invoice)
    pdf_marker = f"secret-pdf-{ref.slug}-{tag}"
    storage.put(invoice.pdf_key, f"%PDF-1.7 {pdf_marker}".encode(), "application/pdf")
    with resources.sessions().begin() as session:
        session.add(invoice)
    return invoice, pdf_marker


@pytest.fixture(scope="module")
def plugins(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, tenant: TenantRef, other_tenant: TenantRef
) -> Iterator[Path]:
    """A third-party module installed for the whole matrix: its page joins the route table (with its
    permission), its table each tenant's schema, and the victim's rows there are markers too."""
    with installed_plugins(
        tmp_path_factory.mktemp("matrix-plugins"), settings, [tenant, other_tenant]
    ) as target:
        yield target


@pytest.fixture(scope="module")
def world(
    settings: Settings,
    resources: PlatformResources,
    tenant: TenantRef,
    other_tenant: TenantRef,
    plugins: Path,
) -> Iterator[World]:
    storage = storage_from_settings(settings)
    alpha, beta = _seed(resources, storage, tenant), _seed(resources, storage, other_tenant)
    static_dir = Path(create_app(settings).state.templates.static_dirs("base")[0])
    yield World(alpha=alpha, beta=beta, storage=storage, static_dir=static_dir)
    for seeded in (alpha, beta):
        with resources.sessions()(info={"tenant": seeded.ref}) as session, session.begin():
            session.execute(delete(Person).where(Person.id == seeded.person_id))
            session.execute(text("delete from gardening_plots where name = :n"), {"n": seeded.person_marker})
            # Signed-in administrators really used alpha's forms (that is the point): put back what other
            # test modules rely on.
            session.execute(delete(Setting).where(Setting.key.in_(MATRIX_TOUCHED_SETTINGS)))
        forget_tenant_settings(resources, seeded.ref)
        storage.delete(seeded.storage_key)
        storage.delete(seeded.pdf_key)
        with resources.admin_sessions().begin() as session:
            # An issued invoice is never deleted (a trigger): not even by the migrator, except here.
            session.execute(text("set local session_replication_role = replica"))
            session.execute(delete(Invoice).where(Invoice.id == seeded.invoice_id))
        assert resources.redis is not None
        resources.redis.delete(seeded.cache_key)


@pytest.fixture(scope="module")
def app(settings: Settings, plugins: Path) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="module")
def sync_client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}") as client:
        yield client


@pytest.fixture
def quiet_request_logs() -> Iterator[None]:
    """Ten thousand access lines (the test client's and the app's) say nothing here and cost seconds."""
    loggers = [logging.getLogger(name) for name in ("httpx", "bippop.request")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture(scope="module")
def credentials(
    sync_client: TestClient[Litestar], world: World, resources: PlatformResources
) -> dict[str, Credentials]:
    return {role: sign_in(sync_client, role, world.alpha.host, world.alpha.ref, resources) for role in ROLES}


# Leak detection --------------------------------------------------------------------------------------------


def _forms(text: str) -> set[str]:
    """The ways a string can show in a page, a JSON document, a URL or a header."""
    return {
        text,
        html.escape(text),
        json.dumps(text)[1:-1],
        quote(text, safe=""),
        quote(text),
        text.encode().decode("latin-1"),
    }


def leaks(victim: Seeded, body: str, headers: str, sent_url: str, sent_everything: str) -> list[str]:
    """The victim's data in a response: secrets anywhere; identifiers unless the request carried them there.

    A page echoes its own path (the language links), and the access log's request id is
    echoed in a header: those reflections are the attacker's own input, not the victim's data.
    """
    found = []
    for secret, forms in victim.secret_forms:
        if any(form in body or form in headers for form in forms):
            found.append(f"{victim.ref.slug}'s secret {secret!r} in the response")
    body_l, headers_l = body.lower(), headers.lower()
    url_l, everything_l = unquote(sent_url).lower() + sent_url.lower(), sent_everything.lower()
    for ident, forms in victim.identifier_forms:
        if ident not in url_l and any(form in body_l for form in forms):
            found.append(f"{victim.ref.slug}'s identifier {ident!r} in the body")
        if ident not in everything_l and any(form in headers_l for form in forms):
            found.append(f"{victim.ref.slug}'s identifier {ident!r} in the headers")
    return found


# Route table -----------------------------------------------------------------------------------------------

PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


@dataclasses.dataclass(frozen=True)
class RouteCase:
    path: str
    methods: tuple[str, ...]
    sites: tuple[str, ...] | str
    name: str | None

    @property
    def params(self) -> list[str]:
        return [match.group(1) for match in PARAM.finditer(self.path)]


def route_table(app: Litestar) -> tuple[list[RouteCase], list[str]]:
    """Every HTTP (path, handler) of the app; and any non-HTTP route, which this matrix cannot drive yet."""
    cases, others = [], []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                others.append(f"{route.path} ({type(handler).__name__})")
                continue
            sites = handler.opt.get("sites", DEFAULT_SITES)
            cases.append(RouteCase(route.path, tuple(sorted(handler.http_methods)), sites, handler.name))
        if not getattr(route, "route_handlers", None):
            others.append(f"{route.path} ({type(route).__name__})")
    return cases, others


@pytest.fixture(scope="module")
def routes(app: Litestar) -> list[RouteCase]:
    return route_table(app)[0]


# Hosts -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HostCase:
    header: str | bytes
    site: str  # "alpha", "beta" (what it must resolve to), "public", "coop", "unknown" (404), "invalid" (400)


B = BASE_DOMAIN
FIXED_HOSTS = (
    HostCase(f"alpha.{B}", "alpha"),
    HostCase(f"ALPHA.{B}:8443", "alpha"),
    HostCase(f"alpha.{B}.", "alpha"),
    HostCase(DOMAINS["alpha"], "alpha"),
    HostCase(f"{DOMAINS['alpha'].upper()}:443", "alpha"),
    # Beta's own host, spelled oddly: it is beta; alpha's cookies and forgeries must bring nothing of alpha.
    HostCase(f"BETA.{B}:1", "beta"),
    HostCase(f"beta.{B}.", "beta"),
    # Look-alikes of beta's hosts: nobody.
    HostCase(f"beta.{B}.evil.example", "unknown"),
    HostCase(f"{DOMAINS['beta']}.evil.example", "unknown"),
    HostCase(f"beta-{B}", "unknown"),
    HostCase(f"beta{B}", "unknown"),
    HostCase(f"beta.alpha.{B}", "unknown"),
    HostCase(f"alpha.beta.{B}", "unknown"),
    HostCase(f"beta.{B}.{B}", "unknown"),
    HostCase(f"www.{DOMAINS['beta']}", "unknown"),
    HostCase("betaville.fr", "unknown"),
    HostCase("entraide.xn--btaville-bya.fr", "unknown"),
    HostCase("entraide.bétaville.fr".encode(), "invalid"),
    HostCase(f"nobody.{B}", "unknown"),
    HostCase("evil.example", "unknown"),
    HostCase("127.0.0.1", "unknown"),
    HostCase("127.0.0.1:8000", "unknown"),
    HostCase("10.0.0.7", "unknown"),
    HostCase("[::1]", "invalid"),
    HostCase("[::1]:8000", "invalid"),
    HostCase(f"beta.{B}@evil.example", "invalid"),
    HostCase(f"alpha.{B}, beta.{B}", "invalid"),
    HostCase(f"alpha.{B}/beta", "invalid"),
    HostCase(f"beta_{B}", "invalid"),
    # Platform hosts: no tenant's data at all.
    HostCase(B, "public"),
    HostCase(f"www.{B}", "public"),
    HostCase(f"coop.{B}", "coop"),
    HostCase(f"COOP.{B}:443", "coop"),
)

RANDOM_HOST = HostCase("", "random")


def _random_host(number: int) -> HostCase:
    """A host nobody owns: under the base domain (a slug no tenant has) or anywhere else."""
    return HostCase(f"zz{number:x}.{B}" if number % 2 else f"zz{number:x}.example", "unknown")


# Weighted towards alpha's own hosts, where the app answers with pages (about 40 %), then beta's own host
# (about 8 %); the rest look-alike, unknown, invalid and platform hosts.
WEIGHTED_HOSTS = (
    *[case for case in FIXED_HOSTS if case.site == "alpha"] * 6,
    *[case for case in FIXED_HOSTS if case.site == "beta"] * 3,
    *[case for case in FIXED_HOSTS if case.site not in ("alpha", "beta")],
    *[RANDOM_HOST] * 6,
)
HOST_CHOICES = st.sampled_from(WEIGHTED_HOSTS)
RANDOM_HOST_NUMBERS = st.integers(0, 2**40)


# Known platform bugs that are not isolation failures (no data of anyone in the answer, checked as usual): each
# gets a test of its own; none is known today.
KNOWN_ISSUES: collections.Counter[str] = collections.Counter()


def known_issue(url: str, status: int) -> str | None:
    return None


# What the attacker sends ------------------------------------------------------------------------------------


def path_values(world: World, victim: Seeded) -> list[str]:
    """Path parameter values aimed at the victim; already URL-ready (percent-encoding is part of the attack)."""
    vid, key = victim.ref.id, victim.storage_key
    values = [
        str(vid),
        str(vid).upper(),
        vid.hex,
        str(victim.invoice_id),
        victim.invoice_number,
        f"{{{vid}}}",
        str(victim.person_id),
        victim.ref.slug,
        victim.ref.schema,
        victim.host,
        victim.domain,
        key,
        f"tenants/{vid}",
        f"tenants/{vid}/",
        f"../{vid}/{'/'.join(MARKER_FILE)}",
        f"../../{key}",
        f"%2e%2e/%2e%2e/{key}",
        f"..%2f..%2f{key}",
        f"%2e%2e%2f%2e%2e%2f{key}",
        f"..%5c..%5c{key}",
        f"%252e%252e%252f{key}",
        f"....//....//{key}",
        f"%00{vid}",
        f"/{key}",
    ]
    if victim.storage_path is not None:
        # From the static files' folder to the victim's marker file, dot-segments encoded so they reach the app.
        relative = os.path.relpath(victim.storage_path, world.static_dir)
        values.append(relative.replace("..", "%2e%2e"))
        values.append(quote(relative.replace("..", "%2e%2e"), safe="%/"))
        values.append(quote(str(victim.storage_path), safe="/"))
    return values


def forged_headers(victim: Seeded) -> dict[str, list[str]]:
    vid = str(victim.ref.id)
    return {
        "X-Forwarded-Host": [victim.host, victim.domain, f"{victim.host}:443"],
        "Forwarded": [f"host={victim.host}", f'for=203.0.113.9;host="{victim.domain}";proto=https'],
        "X-Original-Host": [victim.host, victim.domain],
        "X-Host": [victim.host],
        "X-Forwarded-Server": [victim.domain],
        "X-Tenant": [victim.ref.slug, vid],
        "X-Tenant-Id": [vid, vid.upper()],
        "X-Tenant-Schema": [victim.ref.schema],
        "X-Forwarded-For": ["203.0.113.9", "127.0.0.1", victim.domain],
        "X-Real-IP": ["127.0.0.1"],
        "X-Request-Id": [victim.ref.id.hex, vid],
        "HX-Request": ["true"],
        "HX-Current-URL": [f"https://{victim.host}/", f"https://{victim.domain}/contact"],
        "Accept": ["text/html", "application/json", "*/*"],
        "Accept-Language": ["en", "fr"],
    }


def forged_cookies(victim: Seeded) -> dict[str, list[str]]:
    vid = str(victim.ref.id)
    blob = base64.urlsafe_b64encode(
        json.dumps({"tenant": vid, "schema": victim.ref.schema}).encode()
    ).decode()
    return {
        "bippop_lang": ["fr", "en", "de", victim.ref.slug, vid],
        "session": [vid, victim.ref.schema, blob],
        "bippop_session": [vid, blob, f"{blob}.forged-signature"],
        "bippop_tenant": [victim.ref.slug, vid],
        "tenant_id": [vid],
        "schema": [victim.ref.schema],
    }


def query_values(victim: Seeded) -> list[str]:
    vid = str(victim.ref.id)
    return [
        vid,
        victim.ref.slug,
        victim.ref.schema,
        str(victim.person_id),
        victim.storage_key,
        victim.domain,
        "en",
        "fr",
        f"//{victim.domain}/",
        f"https://{victim.host}/",
        f"/{vid}",
    ]


QUERY_KEYS = (
    "tenant",
    "tenant_id",
    "tenant_slug",
    "schema",
    "id",
    "person",
    "host",
    "lang",
    "next_url",
    "key",
)


def _victims(world: World, host: HostCase) -> list[Seeded]:
    if host.site == "alpha":
        return [world.beta]
    if host.site == "beta":
        return [world.alpha]
    return [world.alpha, world.beta]


# 1-3. Every route x every role x hosts, forged headers, cookies, ids ----------------------------------------


def test_route_table_is_all_covered(app: Litestar, routes: list[RouteCase]) -> None:
    cases, others = route_table(app)
    assert cases, "no route found: the route table moved?"
    # A websocket or mounted ASGI route would escape the requests below: extend the matrix first.
    assert not others, f"routes this matrix cannot request yet: {others}"
    # A module's pages are routes like any other: the third-party module's and a built-in one's.
    assert {"gardening-plots", "events", "coordination-events"} <= {case.name for case in cases}
    for case in cases:
        assert case.methods, case
        assert case.sites == ANY_SITE or set(case.sites) <= {"public", "coop", "tenant"}, case


def _pairs(pool: dict[str, list[str]], max_size: int) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A few (name, value) pairs, one name at most once: two draws a pair, where a dictionary would cost two a name."""
    pairs = [(name, value) for name, values in pool.items() for value in values]
    return st.lists(st.sampled_from(pairs), max_size=max_size, unique_by=lambda pair: pair[0])


@dataclasses.dataclass(frozen=True)
class HttpAttempt:
    route: RouteCase  # the route drawn; the path filled in may well reach another one
    method: str
    role: str
    host: HostCase
    url: str
    headers: dict[str, str | bytes]


def http_attempts(
    routes: list[RouteCase], world: World, credentials: dict[str, Credentials]
) -> st.SearchStrategy[HttpAttempt]:
    """Built once: hypothesis pays for each new strategy object, so none is made per example."""
    methods = {route: st.sampled_from(route.methods) for route in routes}
    random_text = st.text(max_size=16).map(lambda text: quote(text, safe="/"))
    segments = st.lists(
        st.sampled_from(["..", "%2e%2e", ".", "tenants", "matrix", "marker.txt"]), max_size=5
    ).map("/".join)
    targets = {
        "alpha": st.just(world.beta),
        "beta": st.just(world.alpha),
        "other": st.sampled_from([world.beta, world.alpha]),
    }
    pools = {}
    for seeded in (world.alpha, world.beta):
        pools[seeded.ref.slug] = (
            st.one_of(st.sampled_from(path_values(world, seeded)), random_text, segments),
            st.dictionaries(st.sampled_from(QUERY_KEYS), st.sampled_from(query_values(seeded)), max_size=3),
            _pairs(forged_headers(seeded), max_size=4),
            _pairs(forged_cookies(seeded), max_size=3),
        )
    route_st, role_st = st.sampled_from(routes), st.sampled_from(ROLES)

    @st.composite
    def attempt(draw: st.DrawFn) -> HttpAttempt:
        route = draw(route_st)
        method = draw(methods[route])
        role = draw(role_st)
        host = draw(HOST_CHOICES)
        if host is RANDOM_HOST:
            host = _random_host(draw(RANDOM_HOST_NUMBERS))
        target = draw(targets.get(host.site, targets["other"]))
        path_st, query_st, headers_st, cookies_st = pools[target.ref.slug]
        path = PARAM.sub(lambda _match: draw(path_st), route.path)
        query = draw(query_st)
        credential = credentials["anonymous" if route.name in SESSION_ENDING_ROUTES else role]
        headers: dict[str, str | bytes] = {**credential.headers, **dict(draw(headers_st))}
        cookies = {**credential.cookies, **dict(draw(cookies_st))}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        headers["Host"] = host.header
        url = path + ("?" + urlencode(query) if query else "")
        return HttpAttempt(route, method, role, host, url, headers)

    return attempt()


NO_ROUTE = "no route"
# A GET of a path only an action (POST) answers: the router refuses it (405) and the app sends the browser
# to the action's page (web/action_pages.py), before any host is looked at.
ACTION_ONLY = "action only"


def served_path(url: str) -> str:
    """The path the app sees: the test client's transport decodes httpx's already decoded path once more."""
    return normalize_path(unquote(httpx.URL(f"http://{BASE_DOMAIN}{url}").path))


def served_sites(app: Litestar, url: str, method: str) -> tuple[str, ...] | str:
    """The sites of the handler Litestar routes this request to (the filled-in path may reach another route).

    The path as the test client hands it to the app (decoded, as in its transport), through the
    app's own router; ``NO_ROUTE`` when the router answers 404/405 itself, before any middleware.
    """
    path = served_path(url)
    try:
        _asgi_app, handler, *_rest = app.asgi_router.handle_routing(path=path, method=method)
    except MethodNotAllowedException:
        return ACTION_ONLY if method == "GET" else NO_ROUTE
    except NotFoundException:
        return NO_ROUTE
    sites: tuple[str, ...] | str = handler.opt.get("sites", DEFAULT_SITES)
    return sites


def expected_status(host: HostCase, sites: tuple[str, ...] | str) -> set[int] | None:
    """The statuses the request must get; ``None``: whatever the route answers, so long as no 5xx."""
    if sites == NO_ROUTE:
        # Litestar itself refuses a Host it finds malformed (400) before routing.
        return {404, 405} | ({400} if host.site == "invalid" else set())
    if sites == ACTION_ONLY:
        # To the action's page (a path on the same host, checked below), or 404 when no such action.
        return {303, 404} | ({400} if host.site == "invalid" else set())
    if sites == ANY_SITE:
        return None
    if host.site == "invalid":
        return {400}
    if host.site == "unknown":
        return {404}
    kind = "tenant" if host.site in ("alpha", "beta") else host.site
    return None if kind in sites else {404}


def test_every_route_every_role_every_forgery(
    app: Litestar,
    sync_client: TestClient[Litestar],
    routes: list[RouteCase],
    world: World,
    credentials: dict[str, Credentials],
    quiet_request_logs: None,
) -> None:
    # Positive controls: each tenant's own host shows its own name, so a silent page would not pass for isolation.
    for seeded in (world.alpha, world.beta):
        for name in seeded.hosts:
            sync_client.cookies.clear()
            response = sync_client.get("/", headers={"Host": name})
            assert response.status_code == 200 and seeded.ref.name in response.text, name

    def check(attempt: HttpAttempt) -> None:
        host, url = attempt.host, attempt.url
        sync_client.cookies.clear()
        raw_headers = [
            (name.encode(), value if isinstance(value, bytes) else value.encode())
            for name, value in attempt.headers.items()
        ]
        response = sync_client.request(attempt.method, url, headers=raw_headers, follow_redirects=False)
        problems = []
        known = known_issue(url, response.status_code)
        if known:
            KNOWN_ISSUES[known] += 1
        elif response.status_code >= 500:
            problems.append(f"server error {response.status_code}")
        sites = served_sites(app, url, attempt.method)
        expected = expected_status(host, sites)
        if sites == ACTION_ONLY and response.status_code == 303:
            location = response.headers.get("location", "")
            if not location.startswith("/") or location.startswith("//") or "\\" in location:
                problems.append(f"an action's page outside this host: {location!r}")
        if "\x00" in served_path(url) and sites not in (NO_ROUTE, ACTION_ONLY):
            expected = {400}  # a NUL byte is refused before anything else looks at the path (once routed)
        if expected is not None and response.status_code not in expected:
            problems.append(
                f"status {response.status_code}, expected {sorted(expected)} (route sites: {sites})"
            )
        body = response.content.decode("utf-8", "replace")
        response_headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        sent = url + "\n" + "\n".join(f"{k}: {v!r}" for k, v in attempt.headers.items())
        for victim in _victims(world, host):
            found = leaks(victim, body, response_headers, url, sent)
            if attempt.route.name in ECHOING_ROUTES:
                # These pages show what earlier requests sent (the audit log keeps each request's id, which a
                # client may choose): an identifier the attacker sent may come back; a secret never may.
                found = [f for f in found if "'s secret " in f]
            problems.extend(found)
        settle(
            "http",
            attempt.role,
            problems,
            lambda: f"{attempt.method} {url} on {host.header!r} ({attempt.role}, headers {attempt.headers})",
        )

    # A few attempts per example: hypothesis's own bookkeeping per example costs about as much as a request.
    @matrix_settings(HTTP_EXAMPLES // HTTP_BATCH)
    @given(
        batch=st.lists(http_attempts(routes, world, credentials), min_size=HTTP_BATCH, max_size=HTTP_BATCH)
    )
    def run(batch: list[HttpAttempt]) -> None:
        for attempt in batch:
            check(attempt)

    run()


def test_the_invoice_markers_are_seen_where_they_belong(
    sync_client: TestClient[Litestar], world: World, resources: PlatformResources
) -> None:
    """The control of the invoices' markers: alpha's administrator sees alpha's invoice and its PDF on
    alpha's host (so their absence everywhere else means something), and beta's answers 404 there."""
    alpha, beta = world.alpha, world.beta
    credentials = sign_in(sync_client, "tenant_admin", alpha.host, alpha.ref, resources)
    sync_client.cookies.update(credentials.cookies)
    try:
        listing = sync_client.get("/gestion/factures", headers={"Host": alpha.host})
        assert listing.status_code == 200 and alpha.invoice_number in listing.text
        assert beta.invoice_number not in listing.text
        own = sync_client.get(f"/gestion/factures/{alpha.invoice_id}/pdf", headers={"Host": alpha.host})
        assert own.status_code == 200 and alpha.pdf_marker.encode() in own.content
        theirs = sync_client.get(f"/gestion/factures/{beta.invoice_id}/pdf", headers={"Host": alpha.host})
        assert theirs.status_code == 404 and beta.pdf_marker.encode() not in theirs.content
    finally:
        sync_client.cookies.clear()


def test_a_nul_byte_in_a_path_is_refused(sync_client: TestClient[Litestar], world: World) -> None:
    response = sync_client.get(f"/static/base/%00{world.beta.ref.id}", headers={"Host": world.alpha.host})
    assert response.status_code == 400


# 4. Storage keys ---------------------------------------------------------------------------------------------


def test_tenant_files_never_reach_another_tenants_files(world: World) -> None:
    alpha = TenantFiles(world.storage, world.alpha.ref)
    beta = world.beta
    bid = str(beta.ref.id)
    assert alpha.get(*MARKER_FILE) == world.alpha.file_marker.encode()  # the probe can read what it should
    hostile_parts = [
        "..",
        ".",
        "",
        "/",
        bid,
        "tenants",
        beta.storage_key,
        f"../{bid}/{'/'.join(MARKER_FILE)}",
        f"../../{beta.storage_key}",
        f"/{beta.storage_key}",
        f"{bid}/{'/'.join(MARKER_FILE)}",
        "..\\" + bid,
        "%2e%2e/" + bid,
        "．．/" + bid,
        f"{bid}\x00",
        "matrix/../../" + bid,
        *MARKER_FILE,
        "/".join(MARKER_FILE),
    ]
    if beta.storage_path is not None and isinstance(world.storage, LocalStorage):
        hostile_parts.append(str(beta.storage_path))
        hostile_parts.append(os.path.relpath(str(beta.storage_path), str(world.storage.root / alpha.prefix)))
    part = st.one_of(st.sampled_from(hostile_parts), st.text(max_size=20))
    alpha_names = set(alpha.list())

    @matrix_settings(STORAGE_EXAMPLES)
    @given(
        operation=st.sampled_from(["exists", "get", "list", "delete", "url_for"]),
        parts=st.lists(part, min_size=1, max_size=3),
    )
    def attempt(operation: str, parts: list[str]) -> None:
        problems: list[str] = []
        try:
            if operation == "exists":
                if alpha.exists(*parts) and alpha.key(*parts)[len(alpha.prefix) :] not in alpha_names:
                    problems.append("exists() is true for a file alpha does not have")
            elif operation == "get":
                content = alpha.get(*parts).decode("utf-8", "replace")
                name = alpha.key(*parts)[len(alpha.prefix) :]
                if name not in alpha_names or any(s in content for s in beta.secrets()):
                    problems.append(f"get() read {content!r} (as {name!r})")
            elif operation == "list":
                listed = alpha.list("/".join(parts))
                if not set(listed) <= alpha_names or any(bid in name for name in listed):
                    problems.append(f"list() showed {listed}")
            elif operation == "delete":
                if alpha.key(*parts) != world.alpha.storage_key:  # never alpha's own marker
                    alpha.delete(*parts)
            else:
                alpha.url_for(*parts)
        except (InvalidKey, FileNotFoundError):
            pass
        if world.storage.get(beta.storage_key) != beta.file_marker.encode():
            problems.append("beta's marker file changed or vanished")
        settle("storage", "anonymous", problems, lambda: f"alpha {operation}{tuple(parts)!r}")

    attempt()
    assert world.storage.get(beta.storage_key) == beta.file_marker.encode()
    assert alpha.get(*MARKER_FILE) == world.alpha.file_marker.encode()


# 6. Cache keys -------------------------------------------------------------------------------------------------


def test_cache_keys_never_meet_another_tenants(world: World, resources: PlatformResources) -> None:
    alpha, beta = world.alpha.ref, world.beta.ref
    redis = resources.redis
    assert redis is not None
    assert (
        redis.get(world.alpha.cache_key) == world.alpha.cache_marker.encode()
    )  # the probe reads what it should
    beta_prefix = f"bippop:t:{beta.id}"
    hostile = [
        str(beta.id),
        beta.slug,
        beta.schema,
        "bippop",
        "t",
        "",
        ":",
        "*",
        "..",
        beta_prefix,
        world.beta.cache_key,
        "matrix",
        "marker",
        "\x00",
        "\n",
    ]
    part = st.one_of(st.sampled_from(hostile), st.text(max_size=16))

    @matrix_settings(CACHE_EXAMPLES)
    @given(parts=st.lists(part, max_size=5))
    def attempt(parts: list[str]) -> None:
        key = tenant_cache_key(*parts, tenant=alpha)
        with tenant_scope(alpha):
            scoped = tenant_cache_key(*parts)
        problems = []
        if scoped != key:
            problems.append(f"scoped key {scoped!r} differs from {key!r}")
        if not (key == f"bippop:t:{alpha.id}" or key.startswith(f"bippop:t:{alpha.id}:")):
            problems.append(f"key {key!r} is not under alpha")
        if key.startswith(beta_prefix) or world.beta.cache_key.startswith(key) or key == world.beta.cache_key:
            problems.append(f"key {key!r} meets beta's {world.beta.cache_key!r}")
        if key == tenant_cache_key(*parts, tenant=beta):
            problems.append("alpha and beta build the same key")
        value = redis.get(key)
        if value is not None and any(s.encode() in value for s in world.beta.secrets()):
            problems.append(f"alpha's key {key!r} reads beta's value")
        settle("cache", "anonymous", problems, lambda: f"tenant_cache_key{tuple(parts)!r}")

    attempt()


# 5. Job messages ------------------------------------------------------------------------------------------------

# (label, tenant slug the actor ran in, everything it could read).
PROBED: list[tuple[str, str | None, list[str]]] = []


@dramatiq.actor(queue_name="test-matrix", max_retries=0)
def probe_tenant_data(label: str, person_id: str) -> None:
    """In the current tenant's scope: the person ``person_id``, every marker person, the marker file and cache value."""
    tenant = current_tenant()
    seen: list[str] = []
    if tenant is not None:
        from bippop.runtime.resources import platform_resources

        resources = platform_resources()
        try:
            wanted: uuid.UUID | None = uuid.UUID(person_id)
        except ValueError:
            wanted = None
        with resources.sessions()(info={"tenant": tenant}) as session:
            if wanted is not None:
                seen.extend(session.scalars(select(Person.display_name).where(Person.id == wanted)))
            seen.extend(
                session.scalars(select(Person.display_name).where(Person.display_name.like("secret-%")))
            )
        files = TenantFiles(storage_from_settings(resources.settings), tenant)
        with contextlib.suppress(FileNotFoundError):
            seen.append(files.get(*MARKER_FILE).decode())
        assert resources.redis is not None
        value = resources.redis.get(tenant_cache_key("matrix", "marker"))
        if value is not None:
            seen.append(value.decode())
    PROBED.append((label, tenant.slug if tenant else None, seen))


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[dramatiq.Broker]:
    with running_worker(settings) as broker:
        yield broker


@pytest.fixture(scope="module")
def job_messages(world: World) -> list[tuple[str, str, str]]:
    """(person id, scope, forgery) for each message, drawn before the worker starts.

    Drawn first, sent after: the messages run in the worker, so the verdicts come after one join;
    and the worker's threads use ``random``, which hypothesis must not see move while it draws.
    """
    beta = world.beta
    pid, tid = beta.person_id, beta.ref.id
    ids = [
        str(pid),
        pid.hex,
        str(pid).upper(),
        f"{{{pid}}}",
        f"urn:uuid:{pid}",
        str(tid),
        tid.hex,
        beta.ref.slug,
        beta.ref.schema,
        beta.person_marker,
        "not-a-uuid",
    ]
    drawn: list[tuple[str, str, str]] = []

    @matrix_settings(JOB_EXAMPLES)
    @given(
        person_id=st.one_of(st.sampled_from(ids), st.uuids().map(str), st.text(max_size=12)),
        scope=st.sampled_from(["alpha", "platform"]),
        forgery=st.sampled_from(["none", "missing-tenant", "malformed-tenant"]),
    )
    def draw(person_id: str, scope: str, forgery: str) -> None:
        drawn.append((person_id, scope, forgery))

    draw()
    return drawn


def test_job_messages_never_reach_another_tenants_data(
    job_messages: list[tuple[str, str, str]], worker: dramatiq.Broker, world: World
) -> None:
    PROBED.clear()
    alpha, beta = world.alpha, world.beta
    # label → what must happen: "alpha" (runs in alpha's scope), "platform" (no tenant), "skipped" (never runs).
    expected: dict[str, str] = {}

    # Positive control: a message for alpha's own person, in alpha's scope, finds it.
    with tenant_scope(alpha.ref):
        probe_tenant_data.send("control", str(alpha.person_id))
    expected["control"] = "alpha"
    described: dict[str, str] = {"control": "alpha's own person, in alpha's scope"}
    for number, (person_id, scope, forgery) in enumerate(job_messages):
        label = f"m{number}"
        described[label] = f"person {person_id!r}, sent in {scope} scope, forgery {forgery}"
        with tenant_scope(alpha.ref if scope == "alpha" else None):
            if forgery == "none":
                probe_tenant_data.send(label, person_id)
                expected[label] = scope
            else:
                forged = str(uuid.uuid4()) if forgery == "missing-tenant" else "not-a-uuid"
                options: dict[str, Any] = {TENANT_OPTION: forged}
                try:
                    probe_tenant_data.send_with_options(args=(label, person_id), **options)
                except CrossTenantMessage:
                    assert scope == "alpha"  # refused at enqueue: a tenant cannot address another
                    continue
                expected[label] = "skipped"
    worker.join("test-matrix", timeout=60_000)

    ran = {label: (slug, seen) for label, slug, seen in PROBED}
    control_scope, control_seen = ran["control"]
    assert control_scope == "alpha"
    assert {alpha.person_marker, alpha.file_marker, alpha.cache_marker} <= set(control_seen), control_seen
    for label, outcome in expected.items():
        problems = []
        if outcome == "skipped":
            if label in ran:
                problems.append(f"a forged message ran in scope {ran[label][0]!r}")
        elif outcome == "skipped-or-platform":
            if label in ran and ran[label] != (None, []):
                problems.append(f"a forged message ran in scope {ran[label][0]!r} and read {ran[label][1]}")
        elif label not in ran:
            problems.append("the message never ran")
        else:
            slug, seen = ran[label]
            want = "alpha" if outcome == "alpha" else None
            if slug != want:
                problems.append(f"ran in scope {slug!r}, expected {want!r}")
            if any(secret in item for item in seen for secret in beta.secrets()):
                problems.append(f"read beta's data: {seen}")
            if want is None and seen:
                problems.append(f"read tenant data without a tenant: {seen}")
        settle(
            "jobs",
            "anonymous",
            problems,
            f"message {label}: {described[label]} (must be: {outcome})",
        )


def test_a_message_enqueued_in_one_tenant_never_runs_in_another(
    worker: dramatiq.Broker, world: World
) -> None:
    PROBED.clear()
    refused = False
    with tenant_scope(world.alpha.ref):
        try:
            options: dict[str, Any] = {TENANT_OPTION: str(world.beta.ref.id)}
            probe_tenant_data.send_with_options(args=("cross", str(world.beta.person_id)), **options)
        except Exception:
            refused = True
    worker.join("test-matrix", timeout=30_000)
    assert refused
    assert all(slug != "beta" for _label, slug, _seen in PROBED), PROBED


def test_a_message_with_a_malformed_tenant_id_is_skipped(worker: dramatiq.Broker, world: World) -> None:
    PROBED.clear()
    options: dict[str, Any] = {TENANT_OPTION: "not-a-uuid"}
    probe_tenant_data.send_with_options(args=("malformed", str(world.beta.person_id)), **options)
    worker.join("test-matrix", timeout=30_000)
    assert PROBED == []


# 7. Cookies and sessions across tenants ----------------------------------------------------------------------------


def test_cookies_from_one_tenant_are_worthless_on_another(
    sync_client: TestClient[Litestar], world: World, resources: PlatformResources
) -> None:
    # Every signed-in role's cookies (session and CSRF) join the jar: replayed on the other tenant's host they
    # must give a signed-out page of that tenant, with nothing of home's.
    def default_locale(ref: TenantRef) -> Any:
        with resources.sessions()(info={"tenant": ref}) as session:
            return session.scalar(select(Setting.value).where(Setting.key == "default_locale"))

    for home, away in ((world.alpha, world.beta), (world.beta, world.alpha)):
        before = default_locale(away.ref)
        jar: list[str] = []
        for name in home.hosts:
            for url in (
                "/?lang=en",
                "/contact?lang=en",
                "/langue?lang=en&next_url=/",
                "/?lang=fr",
                "/missing?lang=en",
            ):
                sync_client.cookies.clear()
                response = sync_client.get(
                    url, headers={"Host": name, "Accept": "text/html"}, follow_redirects=False
                )
                assert response.status_code < 500
                for raw in response.headers.get_list("set-cookie"):
                    attributes = [a.strip().lower() for a in raw.split(";")[1:]]
                    # Host-only: a Domain attribute would hand the cookie to every tenant under the base domain.
                    assert not any(a.startswith("domain") for a in attributes), raw
                    assert not any(ident.lower() in raw.lower() for ident in home.identifiers()), raw
                    jar.append(raw.split(";", 1)[0])
        assert jar, "the app set no cookie at all: the replay below would prove nothing"
        for role in ROLES:
            signed_in = sign_in(sync_client, role, home.host, home.ref, resources)
            jar.extend(f"{name}={value}" for name, value in signed_in.cookies.items())
        cookie = "; ".join(dict.fromkeys(jar))
        for name in away.hosts:
            for url in ("/", "/contact", "/langue?lang=fr&next_url=/", "/missing", "/schema/openapi.json"):
                for accept in ("text/html", "application/json"):
                    sync_client.cookies.clear()
                    response = sync_client.get(
                        url,
                        headers={"Host": name, "Cookie": cookie, "Accept": accept},
                        follow_redirects=False,
                    )
                    problems = []
                    if response.status_code >= 500:
                        problems.append(f"server error {response.status_code}")
                    if url == "/" and (response.status_code != 200 or away.ref.name not in response.text):
                        problems.append("the other tenant's home page did not show its own name")
                    if 'href="/compte"' in response.text:
                        problems.append("a session of one tenant counted as signed in on another")
                    body = response.content.decode("utf-8", "replace")
                    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
                    problems.extend(leaks(home, body, headers, url, url + cookie))
                    settle(
                        "sessions",
                        "anonymous",
                        problems,
                        f"{home.ref.slug}'s cookies on {name}{url}",
                    )
        assert default_locale(away.ref) == before


# Totals ----------------------------------------------------------------------------------------------------------------


def test_matrix_totals() -> None:
    """Last in the module: the whole matrix ran, at least 10,000 attempts, and the attacker never won."""
    total = sum(ATTEMPTS.values())
    categories = {category for category, _role in ATTEMPTS}
    print(f"\nisolation matrix: {total} attempts, {len(SUCCESSES)} successes, {dict(ATTEMPTS)}")
    print(f"known platform bugs met (not isolation failures): {dict(KNOWN_ISSUES)}")
    assert SUCCESSES == []
    assert {"http", "storage", "cache", "jobs", "sessions"} <= categories, categories
    for role in ROLES:
        assert ATTEMPTS[("http", role)] >= 500, (role, ATTEMPTS)
    assert total >= MIN_ATTEMPTS, ATTEMPTS
