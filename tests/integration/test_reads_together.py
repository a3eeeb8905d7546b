"""``db.reads.read_together``: several reads of a tenant in one query string, on the real PostgreSQL.

What is checked: the rows are the session's (values through the columns' processors), one string is
sent and SQLAlchemy's own execution sees nothing, the connection goes back to the pool idle, at the
login role and default path and out of autocommit, each tenant reads only its own rows even on the same
connection, values are bound by psycopg (quotes, backslashes and semicolons stay values), a failure
drops the connection rather than returning it, and inside a begun transaction the reads see its
uncommitted writes (as a session of no tenant reads on the session)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import bindparam, event, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bippop.accounts.models import Person
from bippop.accounts.services.people import PERSON_BY_ID, person_from
from bippop.config import Settings
from bippop.db import reads
from bippop.db.engine import async_session_factory, require_database_url, watch_pool
from bippop.db.reads import Read, read_together
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import make_person

BY_NAME = Read(
    select(Person.id, Person.display_name, Person.roles, Person.created_at)
    .where(Person.display_name == bindparam("name"))
    .order_by(Person.created_at)
)
IN_LIST = Read(select(Person.id).where(Person.id.in_(bindparam("ids", expanding=True))).order_by(Person.id))


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine of one pooled connection: what one read leaves on it, the next one finds."""
    engine = create_async_engine(require_database_url(settings), pool_size=1, max_overflow=0)
    watch_pool(engine.sync_engine, settings.db_recycle_tenants)
    try:
        yield engine
    finally:
        await engine.dispose()


def _named(resources: PlatformResources, tenant: TenantRef, name: str) -> uuid.UUID:
    person_id, _email, _secret = make_person(resources, tenant, ["volunteer"], name=name)
    return person_id


async def test_the_rows_are_the_sessions_in_one_string(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef
) -> None:
    name = f"Jeanne {uuid.uuid4().hex[:6]}"
    first, second = _named(resources, tenant, name), _named(resources, tenant, name)
    sessions = async_session_factory(one_connection)
    async with sessions(info={"tenant": tenant}) as session:
        expected_people = list(await session.execute(PERSON_BY_ID.statement, {"person_id": first}))
        expected_named = list(await session.execute(BY_NAME.statement, {"name": name}))
        await session.commit()

    flights: list[list[str]] = []
    sqlalchemy_statements: list[str] = []

    def sent(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sqlalchemy_statements.append(statement)

    remove = reads.listen(lambda statements: flights.append(list(statements)))
    event.listen(one_connection.sync_engine, "before_cursor_execute", sent)
    try:
        async with sessions(info={"tenant": tenant}) as session:
            people, named, listed = await read_together(
                session,
                [
                    (PERSON_BY_ID, {"person_id": first}),
                    (BY_NAME, {"name": name}),
                    (IN_LIST, {"ids": [second, first]}),
                ],
            )
    finally:
        remove()
        event.remove(one_connection.sync_engine, "before_cursor_execute", sent)

    assert len(flights) == 1 and len(flights[0]) == 4  # the scoping and the three reads, one string
    assert sqlalchemy_statements == []
    assert [tuple(row) for row in people] == [tuple(row) for row in expected_people]
    assert [tuple(row) for row in named] == [tuple(row) for row in expected_named]
    assert [row.id for row in named] == [first, second]
    assert isinstance(named[0].id, uuid.UUID) and named[0].created_at.tzinfo is not None
    assert named[0].roles == ["volunteer"]
    assert [row.id for row in listed] == sorted([first, second])
    me = person_from(people)
    assert me is not None and me.id == first and me.display_name == name
    assert person_from([]) is None


async def test_the_connection_goes_back_idle_unscoped_and_out_of_autocommit(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef, settings: Settings
) -> None:
    person = _named(resources, tenant, "Marcel Dubois")
    sessions = async_session_factory(one_connection)
    async with sessions(info={"tenant": tenant}) as session:
        [rows] = await read_together(session, [(PERSON_BY_ID, {"person_id": person})])
    assert len(rows) == 1
    async with one_connection.connect() as connection:
        pooled = await connection.get_raw_connection()
        driver: Any = pooled.driver_connection
        assert driver.autocommit is False
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        login, path = (
            await connection.execute(text("select current_user, current_setting('search_path')"))
        ).one()
        assert login != tenant.role and tenant.schema not in path
        assert tenant.schema in pooled.info["bippop_tenants_served"]  # counted against the recycling bound
        await connection.rollback()


async def test_each_tenant_reads_its_own_rows_on_the_same_connection(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef, other_tenant: TenantRef
) -> None:
    name = f"Odette {uuid.uuid4().hex[:6]}"
    mine, theirs = _named(resources, tenant, name), _named(resources, other_tenant, name)
    sessions = async_session_factory(one_connection)
    for _round in range(2):
        for ref, expected in ((tenant, mine), (other_tenant, theirs)):
            async with sessions(info={"tenant": ref}) as session:
                named, by_other_id = await read_together(
                    session,
                    [
                        (BY_NAME, {"name": name}),
                        (PERSON_BY_ID, {"person_id": theirs if ref is tenant else mine}),
                    ],
                )
            assert [row.id for row in named] == [expected]
            assert by_other_id == []  # another tenant's id reads nothing


async def test_values_are_bound_by_psycopg_not_pasted(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef
) -> None:
    tricky = "O'Brien \\'; drop table people; -- $$ %s %(name)s"
    person = _named(resources, tenant, "Brigitte Fontaine")
    sessions = async_session_factory(one_connection)
    async with sessions(info={"tenant": tenant}) as session, session.begin():
        await session.execute(update(Person).where(Person.id == person).values(display_name=tricky))
    async with sessions(info={"tenant": tenant}) as session:
        [named] = await read_together(session, [(BY_NAME, {"name": tricky})])
        [people] = await read_together(session, [(PERSON_BY_ID, {"person_id": person})])
    assert [row.id for row in named] == [person]
    assert people[0].display_name == tricky


async def test_a_failed_read_drops_its_connection_and_the_next_one_works(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef
) -> None:
    person = _named(resources, tenant, "Lucien Moreau")
    sessions = async_session_factory(one_connection)

    async def backend() -> int:
        async with one_connection.connect() as connection:
            return int((await connection.execute(text("select pg_backend_pid()"))).scalar_one())

    before = await backend()
    broken = Read(select(Person.id).where(text("1 / (select count(*) - count(*) from people) = 1")))
    async with sessions(info={"tenant": tenant}) as session:
        with pytest.raises(psycopg.errors.DivisionByZero):
            await read_together(session, [(PERSON_BY_ID, {"person_id": person}), (broken, {})])
    assert await backend() != before  # the connection was dropped, not given back
    async with sessions(info={"tenant": tenant}) as session:
        [rows] = await read_together(session, [(PERSON_BY_ID, {"person_id": person})])
    assert [row.id for row in rows] == [person]


async def test_a_connection_left_in_autocommit_is_not_given_out_again(one_connection: AsyncEngine) -> None:
    async with one_connection.connect() as connection:
        first = (await connection.execute(text("select pg_backend_pid()"))).scalar_one()
        await connection.rollback()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        await driver.set_autocommit(True)  # as a request cancelled inside read_together could leave it
    async with one_connection.connect() as connection:
        second = (await connection.execute(text("select pg_backend_pid()"))).scalar_one()
        driver = (await connection.get_raw_connection()).driver_connection
        assert second != first and driver.autocommit is False
        await connection.rollback()


async def test_inside_a_begun_transaction_the_reads_see_its_writes(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef
) -> None:
    person = _named(resources, tenant, "Simone Roux")
    sessions = async_session_factory(one_connection)
    flights: list[Any] = []
    remove = reads.listen(flights.append)
    try:
        async with sessions(info={"tenant": tenant}) as session:
            await session.execute(update(Person).where(Person.id == person).values(display_name="Simone R."))
            [rows] = await read_together(session, [(PERSON_BY_ID, {"person_id": person})])
            assert rows[0].display_name == "Simone R."
            await session.rollback()
    finally:
        remove()
    assert flights == []  # read in the session's own transaction, not in a string of its own


async def test_a_session_without_a_tenant_reads_on_the_session(one_connection: AsyncEngine) -> None:
    """The platform's own pages: no scoping to send, the reads run on the session as before."""
    flights: list[Any] = []
    remove = reads.listen(flights.append)
    try:
        async with async_session_factory(one_connection)() as session:
            [rows] = await read_together(session, [(Read(select(literal(42).label("answer"))), {})])
    finally:
        remove()
    assert [row.answer for row in rows] == [42] and flights == []


async def test_the_parameters_go_through_their_bind_processors(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef
) -> None:
    """A moment without its time zone is refused as the session refuses it (``DateTimeUTC``), not read
    in the server's zone."""
    since = Read(
        select(Person.id).where(Person.created_at > bindparam("since", type_=Person.created_at.type))
    )
    sessions = async_session_factory(one_connection)
    async with sessions(info={"tenant": tenant}) as session:
        with pytest.raises(TypeError):
            await read_together(session, [(since, {"since": datetime.datetime(2026, 1, 1)})])
        [rows] = await read_together(
            session, [(since, {"since": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)})]
        )
    assert rows  # the people made by these tests


def test_a_read_names_its_columns_as_sqlalchemys_rows_do() -> None:
    with pytest.raises(ValueError, match="ORM entities"):
        Read(select(Person))
    with pytest.raises(ValueError, match="need a name"):
        Read(select(func.lower(Person.display_name)))
    with pytest.raises(ValueError, match="distinct names"):
        Read(select(Person.id, Person.id.label("id")))
    assert Read(select(Person.id, func.lower(Person.display_name).label("name"))).statement is not None


async def test_the_dashboards_person_is_detached_not_new(
    one_connection: AsyncEngine, resources: PlatformResources, tenant: TenantRef
) -> None:
    person = _named(resources, tenant, "Julien Petit")
    sessions = async_session_factory(one_connection)
    async with sessions(info={"tenant": tenant}) as session:
        [rows] = await read_together(session, [(PERSON_BY_ID, {"person_id": person})])
        me = person_from(rows)
        assert me is not None
        session.add(me)  # the same row, never a second one
        me.display_name = "Julien P."
        await session.commit()
    async with sessions(info={"tenant": tenant}) as session:
        names = (
            (await session.execute(select(Person.display_name).where(Person.id == person))).scalars().all()
        )
    assert names == ["Julien P."]
