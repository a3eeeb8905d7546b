"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bippop import clock as bippop_clock
from bippop.config import Settings
from bippop.tenants.context import TenantRef

BASE_DOMAIN = "bippop.test"


DEMO_CODE = "60159"  # Compiègne: the demo's (bippop/demo.py) and conftest's `tenant`; never handed out


def free_commune_code(settings: Settings) -> str:
    """The first commune of the official list, by INSEE code, that no tenant of the database uses
    (the demo's aside): every test tenant gets a real code of its own, as registration demands."""
    from sqlalchemy import text

    from bippop.collectivities.store import catalogue
    from bippop.runtime.operations import resources_for

    with resources_for(settings).admin_engine.connect() as connection:
        used = set(
            connection.execute(
                text("select official_code from platform.tenants where kind = 'commune'")
            ).scalars()
        )
    communes = sorted(entry.code for entry in catalogue().entries if entry.kind == "commune")
    return next(code for code in communes if code not in used and code != DEMO_CODE)


def make_tenant(settings: Settings, slug: str, name: str, **kwargs: object) -> TenantRef:
    """A provisioned commune tenant; its code is ``code=`` or the first free one (``free_commune_code``)."""
    from bippop.runtime.operations import create_tenant

    code = str(kwargs.pop("code", None) or free_commune_code(settings))
    tenant = create_tenant(settings, slug, name, "commune", code, **kwargs)  # type: ignore[arg-type]
    return tenant.ref()


def host(slug_or_domain: str) -> dict[str, str]:
    """Headers for a request on a tenant's subdomain (a slug) or on a full host name."""
    name = slug_or_domain if "." in slug_or_domain else f"{slug_or_domain}.{BASE_DOMAIN}"
    return {"Host": name}


SYNTHETIC_REVISION = "bench0002"


def write_synthetic_change(folder: Path, down_revision: str, *, sleep_seconds: float = 0.0) -> str:
    """A real schema change for the tenant chain (a new table with an index, and a new column with a
    default), written as a migration file in ``folder``; returns its revision id."""
    folder.mkdir(parents=True, exist_ok=True)
    pause = f'    op.execute("select pg_sleep({sleep_seconds})")\n' if sleep_seconds else ""
    (folder / f"{SYNTHETIC_REVISION}_visit_notes.py").write_text(
        f'''"""Synthetic change for benchmarks and resumability tests.

Revision ID: {SYNTHETIC_REVISION}
Revises: {down_revision}
"""

import sqlalchemy as sa
from alembic import op

revision = "{SYNTHETIC_REVISION}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit_notes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_visit_notes_person_id", "visit_notes", ["person_id"])
    op.add_column("people", sa.Column("phone_verified", sa.Boolean(), nullable=False, server_default=sa.false()))
{pause}

def downgrade() -> None:
    op.drop_column("people", "phone_verified")
    op.drop_table("visit_notes")
'''
    )
    return SYNTHETIC_REVISION


@contextlib.contextmanager
def own_database(admin_url: str, app_url: str | None, label: str) -> Iterator[tuple[str, str]]:
    """A database of its own on the same server, for tests and benchmarks whose tenants or chain must not
    mix with the session's; yields (app URL, admin URL) and drops it with its cluster-wide roles after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from bippop.db.engine import sqlalchemy_url

    name = f"bippop_{label}_{uuid.uuid4().hex[:8]}"
    admin = make_url(sqlalchemy_url(admin_url))
    app = make_url(sqlalchemy_url(app_url)) if app_url else admin
    server = create_engine(
        admin.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    with server.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    try:
        yield (
            app.set(database=name).render_as_string(hide_password=False),
            admin.set(database=name).render_as_string(hide_password=False),
        )
    finally:
        with server.connect() as connection:
            connection.execute(text(f'drop database if exists "{name}" with (force)'))
            prefix = "bp" + hashlib.sha256(name.encode()).hexdigest()[:6] + "_"
            roles = connection.execute(
                text("select rolname from pg_roles where starts_with(rolname, :p)"), {"p": prefix}
            ).scalars()
            for role in list(roles):
                connection.execute(text(f'drop role "{role}"'))
        server.dispose()


def tenant_tables() -> set[str]:
    """Every table a tenant schema at head holds: the tenant models' tables and Alembic's own."""
    from bippop.db.base import TenantBase
    from bippop.runtime.models import load_all_models

    load_all_models()

    return {*TenantBase.metadata.tables, "alembic_version"}


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any BIPPOP_* variable (a newcomer's), plus ``values``."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("BIPPOP_")}
    env.update(values)
    return env


@contextlib.contextmanager
def running_worker(settings: Settings) -> Iterator[object]:
    """A real dramatiq worker (two threads) on the settings' broker, emptied first; yields the broker."""
    from dramatiq import Worker

    from bippop.broker import build_broker, configure_broker

    broker = configure_broker(build_broker(settings))
    broker.flush_all()
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        yield broker
    finally:
        worker.stop()
        broker.close()


DEFAULT_PASSWORD = "cheval agrafe pile correcte 42"


def make_person(
    resources: object,
    tenant: TenantRef,
    roles: list[str],
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    totp: bool = False,
    verified: bool = True,
    name: str = "Test Person",
) -> tuple[uuid.UUID, str, str | None]:
    """A person of ``tenant`` who can sign in; returns (id, e-mail, TOTP secret or None)."""
    import datetime

    from bippop.accounts import mfa
    from bippop.accounts.models import Person
    from bippop.accounts.passwords import hash_password

    email = email or f"{'-'.join(roles) or 'nobody'}-{uuid.uuid4().hex[:8]}@example.org"
    person_id = uuid.uuid4()
    secret = None
    with resources.sessions()(info={"tenant": tenant}) as session, session.begin():  # type: ignore[attr-defined]
        person = Person(
            id=person_id,
            display_name=name,
            email=email,
            password_hash=hash_password(password),
            roles=roles,
            email_verified_at=datetime.datetime.now(datetime.UTC) if verified else None,
        )
        if totp:
            key = resources.settings.effective_secret_key()  # type: ignore[attr-defined]
            secret = mfa.start_enrollment(person, key)
            person.totp_confirmed_at = datetime.datetime.now(datetime.UTC)
        session.add(person)
    return person_id, email, secret


def csrf_token(client: object, host_name: str) -> str:
    """Visit the sign-in page once so that the CSRF cookie is set; returns the token forms must carry."""
    client.get("/connexion", headers=host(host_name))  # type: ignore[attr-defined]
    return str(client.cookies.get("csrftoken"))  # type: ignore[attr-defined]


def totp_now(secret: str, at: float | None = None) -> str:
    import time

    import pyotp

    return pyotp.TOTP(secret).at(at if at is not None else time.time())


def log_in(
    web: object, slug: str, email: str, secret: str | None = None, password: str = DEFAULT_PASSWORD
) -> None:
    """Sign in on the tenant ``slug`` through the pages (password, then the code when ``secret``)."""
    token = csrf_token(web, slug)
    response = web.post(  # type: ignore[attr-defined]
        "/connexion",
        data={"email": email, "password": password, "_csrf_token": token},
        headers=host(slug),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    if secret:
        response = web.post(  # type: ignore[attr-defined]
            "/connexion/code",
            data={"code": totp_now(secret), "_csrf_token": token},
            headers=host(slug),
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text


class Clock:
    """A clock tests move by hand (``clock.now += 3600``): give it to ``app.state.clock`` for time travel."""

    def __init__(self, now: float | None = None) -> None:
        import time

        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def app_with_clock(settings: Settings) -> tuple[object, Clock]:
    """A fresh app whose sessions and codes read the returned clock."""
    from bippop.app import create_app

    app = create_app(settings)
    app.state.clock = clock = Clock()
    return app, clock


class HandClock(bippop_clock.Clock):
    """The platform's ``Clock``, moved by hand (``clock.advance(days=1)``): give it to services and jobs,
    or install it for the whole process (worker threads included) with ``bippop.clock.use(clock)``."""

    def __init__(self, at: datetime.datetime | None = None) -> None:
        self.at = at or datetime.datetime.now(datetime.UTC)

    def now(self) -> datetime.datetime:
        return self.at

    def advance(self, **delta: float) -> datetime.datetime:
        self.at += datetime.timedelta(**delta)
        return self.at


def forget_tenant_settings(resources: Any, tenant: TenantRef) -> None:
    """After a test writes a tenant's settings behind the pages' back: the cached copy goes, as the
    pages' own changes do (``web.tenant_settings.forget``)."""
    import redis

    from bippop.web.tenant_settings import forget_sync

    client = redis.Redis.from_url(resources.settings.redis_url or "")
    try:
        forget_sync(client, tenant)
    finally:
        client.close()


def fresh_invoice_year(resources: Any) -> int:
    """A year no invoice of this database is in yet, its sequence started afresh: a test that counts
    numbers from 1 gets a year of its own (two tests drawing the same year would share a sequence)."""
    from sqlalchemy import text

    with resources.admin_sessions().begin() as session:
        while True:
            year = 2100 + uuid.uuid4().int % 6900
            taken = session.scalar(
                text("select 1 from platform.invoices where year = :y limit 1"), {"y": year}
            )
            if taken is None:
                session.execute(text("delete from platform.invoice_sequences where year = :y"), {"y": year})
                return year
