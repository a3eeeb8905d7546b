"""Issue 13: pooled connections are checked without a round trip (no pre-ping) and recycled once they
have served ``BIPPOP_DB_RECYCLE_TENANTS`` tenants (a backend's catalog cache grows with every tenant
schema it touches)."""

from __future__ import annotations

import dataclasses
import time

from sqlalchemy import text

from bippop.config import Settings
from bippop.db.engine import looks_alive, make_async_engine, make_engine, scope_connection
from bippop.tenants.context import TenantRef


@dataclasses.dataclass(frozen=True)
class Scope:
    schema: str
    role: str


def backend_pid(engine: object) -> int:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(text("select pg_backend_pid()")).scalar_one())


def test_no_round_trip_is_spent_checking_a_connection(settings: Settings) -> None:
    engine = make_engine(settings, pool_size=1)
    web = make_async_engine(settings)
    try:
        assert engine.pool._pre_ping is False and web.sync_engine.pool._pre_ping is False  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert looks_alive(connection.connection.dbapi_connection)
    finally:
        engine.dispose()


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error(settings: Settings) -> None:
    engine = make_engine(settings, pool_size=1)
    admin = make_engine(settings, pool_size=1, admin=True)
    try:
        first = backend_pid(engine)
        with admin.begin() as connection:
            connection.execute(text("select pg_terminate_backend(:pid)"), {"pid": first})
        for _ in range(100):  # the server ends it asynchronously: until the socket says so
            with engine.connect() as probe:
                if not looks_alive(probe.connection.dbapi_connection):
                    break
            time.sleep(0.02)
        second = backend_pid(engine)  # no OperationalError: the pool replaced it at checkout
        assert second != first
    finally:
        engine.dispose()
        admin.dispose()


def test_a_connection_is_replaced_after_serving_enough_tenants(settings: Settings, tenant: TenantRef) -> None:
    engine = make_engine(settings.replace(db_recycle_tenants=3), pool_size=1)
    try:
        pids = []
        for index in range(7):
            with engine.begin() as connection:
                scope_connection(connection, Scope(f"t_recycle_{index % 4}", tenant.role))
                pids.append(int(connection.execute(text("select pg_backend_pid()")).scalar_one()))
        # Tenants 0, 1, 2 on the first backend; then 3, 0, 1 on the second; then 2 on a third.
        assert pids[0] == pids[1] == pids[2] != pids[3]
        assert pids[3] == pids[4] == pids[5] != pids[6]
        with engine.begin() as connection:  # the same tenant again and again is one tenant
            for _ in range(5):
                scope_connection(connection, Scope("t_recycle_0", tenant.role))
        assert backend_pid(engine) == pids[6]
    finally:
        engine.dispose()


def test_the_web_pool_keeps_its_connections_under_a_burst(settings: Settings) -> None:
    """More requests at once than connections: they wait their turn on the same connections, and none is
    opened and closed per burst (an overflow connection was closed as soon as it was returned)."""
    import asyncio

    from sqlalchemy import event

    web = make_async_engine(settings.replace(db_pool_size=1))  # a web pool of 2
    opened: list[int] = []
    event.listen(web.sync_engine, "connect", lambda *_args: opened.append(1))

    async def request() -> None:
        async with web.connect() as connection:
            await connection.execute(text("select pg_sleep(0.02)"))

    async def bursts() -> None:
        for _ in range(3):
            await asyncio.gather(*(request() for _ in range(6)))
        await web.dispose()

    asyncio.run(bursts())
    assert len(opened) == 2


def test_a_worker_pool_may_hold_a_second_connection_beside_a_held_one(settings: Settings) -> None:
    """Provisioning holds its advisory lock's connection while it asks for a second: the worker's and the
    command line's pools keep their overflow, or as many jobs at once as connections would wait forever."""
    engine = make_engine(settings, pool_size=1)
    with engine.connect() as held, engine.connect() as second:
        assert held.execute(text("select 1")).scalar_one() == second.execute(text("select 1")).scalar_one()
    engine.dispose()
