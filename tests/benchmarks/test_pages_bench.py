"""The hot pages of a real ``bippop web`` under load, beside two baselines measured in the same run.

Issue 13, item 1. One ``bippop web`` process (uvicorn, as in production) serves a tenant of a
database of this benchmark's own, seeded with a coordinator, a volunteer, beneficiaries and help
requests; wrk (``-t1 -c32 --latency``) drives each page for ``BIPPOP_BENCH_SECONDS`` (5) seconds,
``BIPPOP_BENCH_ROUNDS`` (3) times, interleaved (round 1 of every target, then round 2 …), after a
one-second warm-up of each. Beside the pages, in the same rounds:

- ``bare``: a Litestar app that renders a Jinja page of the home page's size and does nothing else;
- ``io``: the same page after one Redis GET and one tenant-scoped transaction with one query (the
  floor of a tenant page on this stack); both in ``baseline_apps.py``, served with ``bippop web``'s
  uvicorn options;
- ``/healthz`` of ``bippop web`` (no Redis, no SQL): the platform's middleware alone;
- when ``bippop web --help`` shows ``--workers``, the home page and the sign-in page of a second
  server started with ``--workers 2`` (the home page is so cheap that wrk, on the same two cores,
  takes much of the second one: the sign-in page shows the server's own scaling);
- when Granian is installed (a dev dependency), ``/healthz``, the home page and the dashboard of the
  same app served by Granian (one worker, uvloop) instead of uvicorn: the side-by-side measure the
  issue asks for before choosing a server.

Each row gives the median over the rounds of requests/s, p50 and p99 (wrk's), the server process's
CPU time (user + system, its workers included) per request served, the SQL statements per request
and round trips per request (counted in this process on an app built by ``create_app`` on the same
database, with the same Host and cookies, after a warm-up) and the share of the bare page's requests/s. Signed-in pages
carry the cookies of a real sign-in over HTTP on the started server.

Only errors fail the test: an answer outside 2xx/3xx, a socket error, wrk failing, a round in which
not one request completed, or a page that does not answer 200 with what it should show when checked
before and after the rounds (a lost session would otherwise be measured as its redirect). Timings
never do; the issue's targets are printed beside the figures. Figures go to
``tests/benchmarks/results/pages.json``. Without wrk on PATH the test is skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from baseline_apps import TEMPLATE, io_app
from litestar import Litestar
from litestar.testing import TestClient
from reporting import own_database_settings, record, table
from sqlalchemy import event, update
from structlog.testing import capture_logs
from webserver import (
    cpu_seconds,
    free_port,
    granian_path,
    run_wrk,
    start_baseline,
    start_granian,
    start_web,
    stop_web,
    wait_healthy,
    wrk_path,
)

from bippop.accounts.models import Person
from bippop.aid.models import HelpRequest, RequestOffer
from bippop.app import create_app
from bippop.config import Settings
from bippop.db import reads
from bippop.demo import ALL_SKILLS
from bippop.runtime.operations import migrate_platform, resources_for
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop.tenants.provisioning import provision
from bippop.tenants.services import TenantService
from support import BASE_DOMAIN, clean_env, log_in, make_person
from wrk_output import WrkResult

RESULTS = Path(__file__).parent / "results" / "pages.json"

SECONDS = float(os.environ.get("BIPPOP_BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BIPPOP_BENCH_ROUNDS", "3"))
WARMUP_SECONDS = 1
CONNECTIONS = 32
SQL_WARMUP = 2
SQL_SAMPLES = 5
CENTRE = (49.4179, 2.8261)  # Compiègne
BENEFICIARIES = ("Jeanne Lefèvre", "Marcel Dubois", "Odette Garnier", "Lucien Moreau", "Simone Roux")
REQUESTS_PER_STATUS = {"open": 10, "offered": 6, "matched": 4}
GRANIAN_PAGES = ("/healthz", "anonymous home", "volunteer dashboard")  # also served by Granian, side by side
SEARCHED = "Jeanne"  # the htmx fragment's query: the intake form's live search of a beneficiary


# The database of this benchmark and its tenant -------------------------------------------------


@pytest.fixture(scope="module")
def pages_settings(settings: Settings) -> Iterator[Settings]:
    """The session's settings, pointed (both logins) at a fresh database on the same server."""
    with own_database_settings(settings, "pages") as own:
        yield own


@dataclasses.dataclass(frozen=True)
class Seeded:
    tenant: TenantRef
    host: str
    volunteer_email: str
    coordinator_email: str
    coordinator_secret: str


def _seed(resources: PlatformResources, settings: Settings, slug: str) -> Seeded:
    """One commune with a coordinator (second factor on, as the role demands), a vetted volunteer
    with every skill, beneficiaries near the volunteer and their requests: open, offered to the
    volunteer, matched with them."""
    with capture_logs():
        with resources.admin_sessions().begin() as session:
            registered = TenantService(session, base_domain=settings.base_domain).register(
                slug=slug,
                name="Compiègne Essais",
                kind="commune",
                official_code="60159",
                check_official=False,
            )
            tenant_id, tenant = registered.id, registered.ref()
        assert provision(resources.admin_engine, tenant_id, use_pool=False) == "active"
    _id, coordinator_email, secret = make_person(
        resources, tenant, ["coordinator"], totp=True, name="Claire Martin"
    )
    assert secret is not None
    volunteer_id, volunteer_email, _ = make_person(resources, tenant, ["volunteer"], name="Julien Petit")
    beneficiaries = [make_person(resources, tenant, ["beneficiary"], name=name)[0] for name in BENEFICIARIES]
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
        session.execute(
            update(Person)
            .where(Person.id == volunteer_id)
            .values(
                vetting_level=2,
                skills=ALL_SKILLS,
                latitude=CENTRE[0],
                longitude=CENTRE[1],
                commune_code="60159",
                max_distance_km=10,
            )
        )
        for number, beneficiary_id in enumerate(beneficiaries):
            session.execute(
                update(Person)
                .where(Person.id == beneficiary_id)
                .values(
                    latitude=CENTRE[0] + 0.002 * number,
                    longitude=CENTRE[1] - 0.002 * number,
                    phone=f"06 00 00 00 {number:02d}",
                    commune_code="60159",
                )
            )
        number = 0
        for status, count in REQUESTS_PER_STATUS.items():
            for _ in range(count):
                beneficiary_id = beneficiaries[number % len(beneficiaries)]
                request = HelpRequest(
                    id=uuid.uuid4(),
                    module="visits",
                    beneficiary_id=beneficiary_id,
                    created_by=beneficiary_id,
                    created_as="beneficiary",
                    status=status,
                    details={"frequency": "once"},
                    latitude=CENTRE[0] + 0.001 * number,
                    longitude=CENTRE[1] + 0.001 * number,
                    volunteer_id=volunteer_id if status == "matched" else None,
                )
                session.add(request)
                session.flush()
                if status == "offered":
                    session.add(
                        RequestOffer(id=uuid.uuid4(), request_id=request.id, volunteer_id=volunteer_id)
                    )
                number += 1
    return Seeded(
        tenant=tenant,
        host=f"{slug}.{settings.base_domain}",
        volunteer_email=volunteer_email,
        coordinator_email=coordinator_email,
        coordinator_secret=secret,
    )


def _signed_in_cookie(base_url: str, seeded: Seeded, email: str, secret: str | None = None) -> str:
    """A ``Cookie`` header of a real sign-in (the pages' form, then the code) on the started server."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        log_in(client, seeded.tenant.slug, email, secret)
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookies.jar)


# What is measured ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    server: str  # "web", "web2" (bippop web --workers 2), "granian", "bare", "io"
    path: str
    headers: Mapping[str, str]
    shows: str | None = None  # text the page must contain when checked before and after the rounds
    fragment: bool = False  # an htmx answer: no <html> around it


def _targets(
    seeded: Seeded, volunteer: str, coordinator: str, two_workers: bool, granian: bool
) -> list[Target]:
    tenant = {"Host": seeded.host}
    targets = [
        Target("bare Litestar Jinja page", "bare", "/", {}, "Bienvenue"),
        Target("minimal I/O (Redis GET, scoped SQL, render)", "io", "/", {}, "Bienvenue"),
        Target("/healthz", "web", "/healthz", {"Host": BASE_DOMAIN}),
        Target("anonymous home", "web", "/", tenant, "Compiègne Essais"),
        Target("sign-in page", "web", "/connexion", tenant, 'name="password"'),
        Target(
            "volunteer dashboard",
            "web",
            "/benevole/",
            {**tenant, "Cookie": volunteer},
            'class="request-card"',
        ),
        Target(
            "coordinator request list",
            "web",
            "/coordination/demandes/",
            {**tenant, "Cookie": coordinator},
            BENEFICIARIES[1],
        ),
        Target(
            "htmx fragment: intake people search",
            "web",
            f"/coordination/appel/personnes?q={SEARCHED}",
            {**tenant, "Cookie": coordinator, "HX-Request": "true"},
            BENEFICIARIES[0],
            fragment=True,
        ),
    ]
    if two_workers:
        # Two pages: the home page, where at ~5,000 requests/s wrk itself takes much of the second core
        # these processes share, and the sign-in page, where the server's work dominates.
        targets.append(Target("anonymous home, --workers 2", "web2", "/", tenant, "Compiègne Essais"))
        targets.append(Target("sign-in page, --workers 2", "web2", "/connexion", tenant, 'name="password"'))
    if granian:
        targets += [
            dataclasses.replace(target, name=f"{target.name}, Granian", server="granian")
            for target in targets
            if target.name in GRANIAN_PAGES
        ]
    return targets


def _workers_option() -> bool:
    """Whether this ``bippop web`` takes ``--workers`` (another item of issue 13 adds it)."""
    shown = subprocess.run(
        [sys.executable, "-m", "bippop", "web", "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    return "--workers" in shown.stdout


def _check(base_urls: Mapping[str, str], target: Target) -> int:
    """GET the target once, outside wrk: a 200 (not a redirect to sign in) with what it shows; its size."""
    response = httpx.get(
        base_urls[target.server] + target.path,
        headers=dict(target.headers),
        timeout=10,
        follow_redirects=False,
    )
    assert response.status_code == 200, (
        target.name,
        response.status_code,
        response.headers,
        response.text[:500],
    )
    if target.shows is not None:
        assert target.shows in response.text, (target.name, response.text[:2000])
    if target.fragment:
        assert "<html" not in response.text, (target.name, response.text[:500])
    return len(response.content)


class Statements:
    """What a request sends to PostgreSQL: its statements (each ``before_cursor_execute``, and each one
    in a string of ``db.reads.read_together``) and its round trips (those statements one by one, each
    transaction's BEGIN and COMMIT or ROLLBACK, and each such string as one)."""

    def __init__(self) -> None:
        self.count = 0
        self.trips = 0

    def statement(self, *_args: Any) -> None:
        self.count += 1
        self.trips += 1

    def transaction(self, *_args: Any) -> None:
        self.trips += 1

    def together(self, statements: Any) -> None:
        self.count += len(statements)
        self.trips += 1

    def listen(self, engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", self.statement)
        for name in ("begin", "commit", "rollback"):
            event.listen(engine, name, self.transaction)

    def remove(self, engine: Any) -> None:
        event.remove(engine, "before_cursor_execute", self.statement)
        for name in ("begin", "commit", "rollback"):
            event.remove(engine, name, self.transaction)


def _statements_per_request(
    app: Litestar, engines: Callable[[Litestar], list[Any]], targets: list[Target]
) -> dict[str, tuple[float, float]]:
    """SQL statements and round trips per request of each target, in this process: ``SQL_WARMUP``
    requests first (the Redis caches filled), then the mean over ``SQL_SAMPLES``."""
    counted: dict[str, tuple[float, float]] = {}
    statements = Statements()
    with _quiet(), TestClient(app, base_url=f"http://{BASE_DOMAIN}") as client:
        sync_engines = {id(engine): engine.sync_engine for engine in engines(app) if engine is not None}
        for engine in sync_engines.values():
            statements.listen(engine)
        forget = reads.listen(statements.together)
        try:
            for target in targets:
                for sample in range(SQL_WARMUP + SQL_SAMPLES):
                    if sample == SQL_WARMUP:
                        statements.count = statements.trips = 0
                    client.cookies.clear()  # only the target's own Cookie header
                    response = client.get(target.path, headers=dict(target.headers), follow_redirects=False)
                    assert response.status_code == 200, (
                        target.name,
                        response.status_code,
                        response.text[:500],
                    )
                counted[target.name] = (statements.count / SQL_SAMPLES, statements.trips / SQL_SAMPLES)
        finally:
            forget()
            for engine in sync_engines.values():
                statements.remove(engine)
    return counted


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Not one log line per in-process request in the benchmark's output (structlog, httpx)."""
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with capture_logs():
            yield
    finally:
        logger.setLevel(level)


def _platform_engines(app: Litestar) -> list[Any]:
    return [app.state.engine, *app.state.cluster_engines.values()]


def _baseline_engines(app: Litestar) -> list[Any]:
    return [app.state.get("engine")]


@dataclasses.dataclass
class Round:
    wrk: WrkResult
    cpu_s: float
    load_1m: float

    @property
    def cpu_per_request_s(self) -> float:
        return self.cpu_s / max(self.wrk.requests, 1)


def _measure(base_urls: Mapping[str, str], pids: Mapping[str, int], target: Target, seconds: float) -> Round:
    load = os.getloadavg()[0]
    before = cpu_seconds(pids[target.server])
    result, _output = run_wrk(
        base_urls[target.server] + target.path, seconds, target.headers, connections=CONNECTIONS
    )
    return Round(result, cpu_seconds(pids[target.server]) - before, load)


def _errors(target: Target, result: WrkResult, phase: str, *, some_expected: bool = True) -> list[str]:
    """What went wrong in one wrk run: answers outside 2xx/3xx, socket errors, or (``some_expected``)
    not one request completed."""
    found = []
    if result.errors:
        found.append(
            f"{target.name} ({phase}): {result.non_2xx_3xx} answers outside 2xx/3xx, "
            f"socket errors {result.socket_errors or 'none'}"
        )
    if some_expected and not result.requests:
        found.append(f"{target.name} ({phase}): not one request completed")
    return found


def _median(rounds: list[Round], value: Any) -> float:
    return statistics.median(value(one) for one in rounds)


# The benchmark ---------------------------------------------------------------------------------------


@pytest.mark.benchmark
def test_pages_under_load_beside_the_baselines(pages_settings: Settings, tmp_path: Path) -> None:
    wrk_path()  # skipped, with how to install it, when wrk is missing
    settings = pages_settings
    assert settings.base_domain == BASE_DOMAIN and settings.secret_key
    migrate_platform(settings)
    resources = resources_for(settings)
    seeded = _seed(resources, settings, f"pages-{uuid.uuid4().hex[:6]}")
    two_workers = _workers_option()
    granian = granian_path() is not None

    # The same secret key as this process's app: the coordinator's second factor (sealed with it)
    # and the session cookies work on both.
    web_env = {"BIPPOP_SECRET_KEY": settings.secret_key}
    tenant_env = {"BENCH_TENANT_SCHEMA": seeded.tenant.schema, "BENCH_TENANT_ROLE": seeded.tenant.role}
    kinds = ["web", "bare", "io", *(["web2"] if two_workers else []), *(["granian"] if granian else [])]
    ports = {kind: free_port() for kind in kinds}
    base_urls = {kind: f"http://127.0.0.1:{port}" for kind, port in ports.items()}
    logs = {kind: tmp_path / f"{kind}.log" for kind in kinds}
    servers: dict[str, subprocess.Popen[bytes]] = {}
    rounds: dict[str, list[Round]] = {}
    warmups: dict[str, Round] = {}
    errors: list[str] = []
    sizes_before: dict[str, int] = {}
    try:
        for kind in kinds:
            var_dir = tmp_path / f"var-{kind}"
            if kind == "web":
                servers[kind] = start_web(settings, var_dir, ports[kind], logs[kind], env=web_env)
            elif kind == "granian":
                servers[kind] = start_granian(settings, var_dir, ports[kind], logs[kind], env=web_env)
            elif kind == "web2":
                # Its two workers keep the connections of one process between them (10 each, not 20):
                # every server of this run then fits PostgreSQL's default 100 connections.
                servers[kind] = start_web(
                    settings,
                    var_dir,
                    ports[kind],
                    logs[kind],
                    options=["--workers", "2"],
                    env={**web_env, "BIPPOP_DB_POOL_SIZE": str(settings.db_pool_size // 2)},
                )
            else:
                servers[kind] = start_baseline(
                    kind, settings, var_dir, ports[kind], logs[kind], env=tenant_env
                )
        for kind in kinds:
            wait_healthy(servers[kind], base_urls[kind], logs[kind], name=kind)
        pids = {kind: server.pid for kind, server in servers.items()}

        volunteer = _signed_in_cookie(base_urls["web"], seeded, seeded.volunteer_email)
        coordinator = _signed_in_cookie(
            base_urls["web"], seeded, seeded.coordinator_email, seeded.coordinator_secret
        )
        targets = _targets(seeded, volunteer, coordinator, two_workers, granian)
        for target in targets:
            sizes_before[target.name] = _check(base_urls, target)
            warmups[target.name] = warm = _measure(base_urls, pids, target, WARMUP_SECONDS)
            errors += _errors(target, warm.wrk, "warm-up", some_expected=False)
        for number in range(ROUNDS):
            for target in targets:
                measured = _measure(base_urls, pids, target, SECONDS)
                rounds.setdefault(target.name, []).append(measured)
                errors += _errors(target, measured.wrk, f"round {number + 1}")
        for target in targets:  # the sessions still hold: the rounds measured the pages, not redirects
            _check(base_urls, target)
    finally:
        for server in servers.values():
            stop_web(server)
    log_tails = {kind: path.read_text(errors="replace")[-3000:] for kind, path in logs.items()}

    platform_targets = [t for t in targets if t.server == "web"]
    sql = _statements_per_request(create_app(settings), _platform_engines, platform_targets)
    sql.update(
        _statements_per_request(
            io_app(settings, seeded.tenant.schema, seeded.tenant.role),
            _baseline_engines,
            [t for t in targets if t.server == "io"],
        )
    )
    sql.update({t.name: (0.0, 0.0) for t in targets if t.server == "bare"})  # no database at all
    for target in targets:  # the same app, the same page
        if target.server in ("web2", "granian"):
            sql[target.name] = sql[target.name.rsplit(",", 1)[0]]

    medians = {
        name: {
            "requests_per_s": _median(measured, lambda r: r.wrk.requests_per_s),
            "p50_s": _median(measured, lambda r: r.wrk.p50_s),
            "p99_s": _median(measured, lambda r: r.wrk.p99_s),
            "cpu_per_request_s": _median(measured, lambda r: r.cpu_per_request_s),
        }
        for name, measured in rounds.items()
    }
    bare = medians["bare Litestar Jinja page"]["requests_per_s"]
    for name, figures in medians.items():
        figures["share_of_bare"] = figures["requests_per_s"] / bare if bare else 0.0
        figures["sql_per_request"], figures["round_trips_per_request"] = sql[name]

    def share(name: str) -> float:
        return float(medians[name]["share_of_bare"]) if name in medians else float("nan")

    home = medians["anonymous home"]
    notes = [
        f"wrk -t1 -c{CONNECTIONS} -d{SECONDS:g}s --latency, {ROUNDS} interleaved rounds (median shown) after a "
        f"{WARMUP_SECONDS} s warm-up of each; one `bippop web` process"
        + (", and one with --workers 2" if two_workers else ""),
        "CPU ms/req: the server process's user + system time (workers included) over the requests wrk completed",
        f"SQL/req, trips/req: statements and round trips to PostgreSQL (BEGIN, COMMIT and a string of reads "
        f"sent together each count one), in this process (create_app, same database, Host and cookies), mean "
        f"of {SQL_SAMPLES} requests after {SQL_WARMUP}",
        f"page sizes: home {sizes_before['anonymous home']} B, baseline page ({TEMPLATE}) "
        f"{sizes_before['bare Litestar Jinja page']} B, dashboard {sizes_before['volunteer dashboard']} B",
        "targets of the issue (reported, not asserted):",
        f"  anonymous home >= 1/3 of bare: {share('anonymous home'):.3f}; p99 < 50 ms: {home['p99_s'] * 1000:.1f} ms",
        f"  volunteer dashboard >= 1/6 of bare: {share('volunteer dashboard'):.3f}",
        f"  /healthz >= 0.8 of bare: {share('/healthz'):.3f}",
    ]
    if two_workers:
        ratios = ", ".join(
            f"{page} {medians[page + ', --workers 2']['requests_per_s'] / medians[page]['requests_per_s']:.2f}x"
            for page in ("anonymous home", "sign-in page")
        )
        notes.append(f"  --workers 2 >= 1.7x one worker: {ratios}")
    else:
        notes.append(
            "  --workers 2 >= 1.7x one worker: not measured (`bippop web --help` shows no --workers)"
        )
    if granian:
        compared = ", ".join(
            f"{name} {medians[name + ', Granian']['requests_per_s'] / medians[name]['requests_per_s']:.2f}x"
            for name in GRANIAN_PAGES
        )
        notes.append(f"  Granian (1 worker) over uvicorn, requests/s: {compared}")
    table(
        "Pages of a real `bippop web` under load, beside the baselines",
        ["page", "req/s", "p50", "p99", "CPU ms/req", "SQL/req", "trips/req", "share of bare"],
        [
            [
                target.name,
                f"{medians[target.name]['requests_per_s']:.0f}",
                f"{medians[target.name]['p50_s'] * 1000:.2f} ms",
                f"{medians[target.name]['p99_s'] * 1000:.2f} ms",
                f"{medians[target.name]['cpu_per_request_s'] * 1000:.3f}",
                f"{medians[target.name]['sql_per_request']:.1f}",
                f"{medians[target.name]['round_trips_per_request']:.1f}",
                f"{medians[target.name]['share_of_bare']:.3f}",
            ]
            for target in targets
        ],
        notes,
    )
    record(
        RESULTS,
        "pages",
        {
            "description": "hot pages of one `bippop web` process under wrk, beside a bare Litestar Jinja page "
            "and a minimal Litestar app doing the page's least I/O, in the same interleaved rounds",
            "seconds_per_round": SECONDS,
            "rounds": ROUNDS,
            "connections": CONNECTIONS,
            "two_workers_measured": two_workers,
            "granian_measured": granian,
            "page_bytes": sizes_before,
            "medians": medians,
            "rounds_detail": {
                name: [
                    {
                        "requests": r.wrk.requests,
                        "requests_per_s": r.wrk.requests_per_s,
                        "percentiles_s": r.wrk.percentiles_s,
                        "cpu_per_request_s": r.cpu_per_request_s,
                        "errors": r.wrk.errors,
                        "load_average_1m_before": r.load_1m,
                    }
                    for r in measured
                ]
                for name, measured in rounds.items()
            },
            "errors": errors,
        },
        resources.admin_engine,
    )
    assert not errors, (
        "\n".join(errors) + "\n" + "\n".join(f"--- {k} log:\n{v}" for k, v in log_tails.items())
    )
