"""Engines and tenant-scoped sessions.

One pool serves every tenant. A session that carries a tenant in ``info`` scopes
each of its transactions itself, transaction-locally, in one round trip:
``set_config('search_path', …, true)`` and ``set_config('role', …, true)``. After
commit the pooled connection is back to the login role and default path, so a
code path that forgets the tenant reads nothing (relation does not exist).

No round trip is spent checking a pooled connection before use (no pre-ping): at checkout, a
connection whose socket has something to read while idle is one the server closed or is closing
(a restart, an idle timeout, ``pg_terminate_backend``), and is replaced — the pool retries the
checkout with a fresh one — without asking the server anything. A connection that dies between the
check and its use fails that request (503) and SQLAlchemy then drops every pooled connection older
than it. Each connection also counts the tenants it has been scoped to and is replaced after
``BIPPOP_DB_RECYCLE_TENANTS`` of them: a backend keeps a catalog cache for every schema it touched,
so this bounds its memory whatever the number of tenants (``docs/scaling.md``).
"""

from __future__ import annotations

import select as socket_select
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from bippop.config import MAIN_CLUSTER, Settings, SettingsError


class TenantScope(Protocol):
    """What scoping needs of a tenant (``tenants.context.TenantRef`` is one); `db` sits below `tenants`."""

    @property
    def schema(self) -> str: ...

    @property
    def role(self) -> str: ...


SCOPE_SQL = text("select set_config('search_path', :schema, true), set_config('role', :role, true)")
# While PostgreSQL is down or overloaded, a page answers 503 quickly (web/errors.py) instead of hanging:
# connecting gives up after CONNECT_SECONDS (libpq's minimum), waiting for a pooled connection after
# POOL_WAIT_SECONDS.
CONNECT_SECONDS = 2
POOL_WAIT_SECONDS = 5
# TCP keepalives: a peer gone without a word (a crashed host, a NAT or balancer that dropped the flow)
# is noticed by the kernel within about a minute, and the checkout's poll then sees the socket closed.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# Where a pooled connection keeps the tenants it has been scoped to (its pool entry's ``info``).
TENANTS_SERVED = "bippop_tenants_served"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+psycopg://`` (psycopg 3 for both sync and async)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def require_database_url(settings: Settings, *, admin: bool = False, cluster: str = MAIN_CLUSTER) -> str:
    urls = settings.cluster_urls()
    if cluster not in urls:
        raise SettingsError(f"Grappe PostgreSQL « {cluster} » inconnue : déclarez-la dans BIPPOP_CLUSTERS.")
    url = urls[cluster][1 if admin else 0]
    if not url:
        raise SettingsError(
            "BIPPOP_DATABASE_URL n'est pas défini : lancez la plateforme avec `bippop run` "
            "(PostgreSQL embarqué) ou donnez l'URL de votre serveur."
        )
    return sqlalchemy_url(url)


def make_engine(
    settings: Settings, *, pool_size: int | None = None, admin: bool = False, cluster: str = MAIN_CLUSTER
) -> Engine:
    """The app's engine (login role that reaches tenants only through their roles), or with
    ``admin`` the migrator's (owner of the schemas, allowed to create roles)."""
    size = pool_size or settings.db_pool_size
    engine = create_engine(
        require_database_url(settings, admin=admin, cluster=cluster),
        pool_size=size,
        max_overflow=size,
        pool_recycle=3600,
        hide_parameters=True,  # an error's text would otherwise carry the row's personal data into the log
        connect_args={"connect_timeout": 5, "application_name": "bippop", **KEEPALIVES},
    )
    watch_pool(engine, settings.db_recycle_tenants)
    return engine


def make_async_engine(settings: Settings, cluster: str = MAIN_CLUSTER) -> AsyncEngine:
    engine = create_async_engine(
        require_database_url(settings, cluster=cluster),
        # A fixed pool of what the pool could reach before (its size and as many again), opened as needed
        # and then kept: connections beyond a pool's size ("overflow") are closed as soon as they are
        # returned, and under a steady load that meant opening and closing ~20 connections a second
        # (~4 ms of this process's CPU each, and a backend started by PostgreSQL every time).
        pool_size=2 * settings.db_pool_size,
        max_overflow=0,
        pool_recycle=3600,
        pool_timeout=POOL_WAIT_SECONDS,
        hide_parameters=True,  # an error's text would otherwise carry the row's personal data into the log
        connect_args={"connect_timeout": CONNECT_SECONDS, "application_name": "bippop-web", **KEEPALIVES},
    )
    watch_pool(engine.sync_engine, settings.db_recycle_tenants)
    return engine


def _socket_of(dbapi_connection: Any) -> int | None:
    """The libpq socket of a psycopg connection (SQLAlchemy's async adapter wraps it), None if closed."""
    raw = getattr(dbapi_connection, "driver_connection", None) or dbapi_connection
    if getattr(raw, "closed", True):
        return None
    try:
        return int(raw.pgconn.socket)
    except Exception:  # a closed or broken libpq connection
        return None


def looks_alive(dbapi_connection: Any) -> bool:
    """True when an idle connection's socket has nothing waiting (poll with a zero timeout: no round
    trip). An idle PostgreSQL connection receives nothing unless the server ends it (its FATAL
    message, or the socket's end)."""
    fd = _socket_of(dbapi_connection)
    if fd is None:
        return False
    try:
        readable, _, broken = socket_select.select([fd], [], [fd], 0)
    except (OSError, ValueError):
        return False
    return not readable and not broken


def watch_pool(engine: Engine, recycle_tenants: int) -> None:
    """The pool's checkout check (alive, under ``recycle_tenants``, not in autocommit) in place of a
    pre-ping."""

    @event.listens_for(engine, "checkout")
    def _check_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        served = record.info.get(TENANTS_SERVED)
        if recycle_tenants and served is not None and len(served) >= recycle_tenants:
            raise exc.DisconnectionError("served enough tenants: replaced to bound its catalog cache")
        if not looks_alive(dbapi_connection):
            raise exc.DisconnectionError("closed by the server while idle")
        if getattr(
            getattr(dbapi_connection, "driver_connection", None) or dbapi_connection, "autocommit", False
        ):
            # db.reads switches autocommit on for one string and off again; one left on (a cancelled
            # request between the two) would run a page's writes outside any transaction.
            raise exc.DisconnectionError("left in autocommit")


def scope_connection(connection: Connection, tenant: TenantScope) -> None:
    """Scope the connection's current transaction to one tenant (and count the tenant against the
    connection's recycling bound)."""
    connection.execute(SCOPE_SQL, {"schema": tenant.schema, "role": tenant.role})
    connection.info.setdefault(TENANTS_SERVED, set()).add(tenant.schema)


class ScopedSession(Session):
    """A session whose every transaction is scoped to ``info["tenant"]`` when set."""


@event.listens_for(ScopedSession, "after_begin")
def _scope_transaction(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    tenant = session.info.get("tenant")
    if tenant is not None:
        scope_connection(connection, tenant)


def session_factory(engine: Engine) -> sessionmaker[ScopedSession]:
    return sessionmaker(engine, class_=ScopedSession, expire_on_commit=False)


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, sync_session_class=ScopedSession, expire_on_commit=False)
