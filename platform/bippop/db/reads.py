"""Several reads of one tenant in one round trip, for the pages read most.

Through the async session each statement is sent and its answer awaited before the next: a page of four
reads costs BEGIN, the scoping, the four statements and COMMIT, seven round trips, and each costs this
process ~0.3 ms of CPU beyond the query (the greenlet switch, the event loop waking on the socket,
SQLAlchemy's execution context and ORM rows). ``read_together`` sends them as one query string —
``BEGIN; <the scoping>; <read>; …; COMMIT`` — on a connection of the same pool and reads the answers in
order: one round trip and one wake-up (issue 13; ``docs/architecture.md``, "The request's cost").

psycopg's pipeline mode was measured first and gave nothing here: under uvloop each statement it queues
still costs a turn of the event loop (a dashboard at 5.7 ms of CPU before and after), where one query
string costs one (4.0 ms). One string means PostgreSQL's simple-query protocol, whose statements take no
separate parameters: the values are bound into the text by psycopg itself (``ClientCursor.mogrify``, its
adapters' quoting, as psycopg 2 bound every query), never by string formatting here. Nothing is
prepared over that protocol: PostgreSQL plans these statements at every request (the dashboard's reads:
the backend 0.5 → 0.8 ms of CPU, this process 2.2 → 0.8 ms). Reads prepared once per connection were
tried and not kept: psycopg deallocates all of a connection's prepared statements after a ROLLBACK it
sends, so a read could not know whether its own were still there.

What it keeps from the session:

- the statements are SQLAlchemy's, compiled once per dialect (``Read``, of named columns) and expanded
  per call (an ``IN`` of a list); the values pass through the parameters' bind processors on the way in
  and the columns' result processors on the way out;
- the transaction: explicit, the scoping transaction-local (``set_config(…, true)`` of the path and
  role, as every scoped session does it), committed in the same string; the connection goes back to the
  pool idle, at the login role and default path, out of autocommit (which the string needs for its own
  BEGIN) — and a connection on which anything failed is dropped, not returned;
- the pool: the connection comes from the session's engine, through its checkout check (closed
  connections replaced, recycled after ``BIPPOP_DB_RECYCLE_TENANTS`` tenants, counted here too), and a
  database that cannot be reached gives the page's 503 like any other (``web/errors.py``);
- when the session has already begun a transaction (a write earlier in the request, or a settings read
  on a cache miss), the reads run in it, one after the other, so that they see what it wrote; so they do
  on a session of no tenant (the platform's own pages, whose tables need no scoping);
- every statement sent is announced to ``listen``'s callbacks (the statement-count tests and benchmark).

Rows are named tuples: the columns' keys as attributes, as SQLAlchemy's rows have them.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
import psycopg.pq
from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.expression import SelectBase

from bippop.db.engine import SCOPE_SQL, TENANTS_SERVED, TenantScope

Listener = Callable[[Sequence[str]], None]
_listeners: list[Listener] = []


def listen(callback: Listener) -> Callable[[], None]:
    """Call ``callback`` with the statements of each flight (the scoping first); returns its removal."""
    _listeners.append(callback)
    return lambda: _listeners.remove(callback)


class _Compiled:
    """A statement compiled for one dialect, with the bind processors of its parameters (SQLAlchemy's
    execution applies them itself; an expanded ``IN``'s come with its expanded state)."""

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        self.compiled = statement.compile(dialect=dialect)
        escaped = self.compiled.escaped_bind_names
        self.binds = {
            escaped.get(name, name): processor
            for name, bind in self.compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }

    def bound(self, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The statement's text (an ``IN`` of a list expanded) and its values as the driver takes them."""
        state = self.compiled.construct_expanded_state(dict(values))
        processors = {**self.binds, **state.processors}
        return state.statement, {
            key: processor(value) if (processor := processors.get(key)) is not None else value
            for key, value in state.parameters.items()
        }


class Read:
    """A SELECT (or UNION) of named columns that ``read_together`` sends, built once, at import, with
    bind parameters. Its values are written into the query's text (by psycopg's quoting), where
    PostgreSQL's activity view and error log show them: ids, dates, settings — never a person's data
    (a name, an address, a message) as a value to look for."""

    def __init__(self, statement: SelectBase) -> None:
        keys = [column.key for column in statement.selected_columns]
        descriptions = getattr(statement, "column_descriptions", ())
        if any(isinstance(description.get("expr"), type) for description in descriptions):
            raise ValueError("a Read selects columns, not ORM entities (their rows would differ)")
        if not keys or any(not isinstance(k, str) or not k.isidentifier() or k.startswith("_") for k in keys):
            raise ValueError(f"a Read's columns each need a name (label them): {keys}")
        if len(set(keys)) != len(keys):
            raise ValueError(f"a Read's columns need distinct names (label them): {keys}")
        self.statement: Any = statement  # Select or CompoundSelect, whichever columns
        self._keys = [str(key) for key in keys]
        self._compiled: dict[str, _Compiled] = {}  # dialect name → compiled
        # (dialect name, the columns' type codes) → what makes a row of the values read
        self._rows: dict[tuple[str, tuple[int, ...]], Callable[[Sequence[Any]], Any]] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        known = self._compiled.get(dialect.name)
        if known is None:
            known = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return known

    def rows(
        self, dialect: Dialect, type_codes: tuple[int, ...], answer: Sequence[Sequence[Any]]
    ) -> list[Any]:
        """Named tuples of the values read, through the columns' result processors (which may depend on
        the type the server answered with, hence ``type_codes``)."""
        make = self._rows.get((dialect.name, type_codes))
        if make is None:
            make = self._rows[(dialect.name, type_codes)] = self._row_maker(dialect, type_codes)
        return [make(values) for values in answer]

    def _row_maker(self, dialect: Dialect, type_codes: tuple[int, ...]) -> Callable[[Sequence[Any]], Any]:
        columns = list(self.statement.selected_columns)
        named = collections.namedtuple("Row", self._keys)  # type: ignore[misc]
        processors = [
            c.type.dialect_impl(dialect).result_processor(dialect, code)
            for c, code in zip(columns, type_codes, strict=True)
        ]
        steps = [(index, processor) for index, processor in enumerate(processors) if processor is not None]
        if not steps:
            return named._make

        def row(values: Sequence[Any]) -> Any:
            processed = list(values)
            for index, processor in steps:
                processed[index] = processor(processed[index])
            return named._make(processed)

        return row


_scope_by_dialect: dict[str, _Compiled] = {}


def _scope(dialect: Dialect) -> _Compiled:
    known = _scope_by_dialect.get(dialect.name)
    if known is None:
        known = _scope_by_dialect[dialect.name] = _Compiled(SCOPE_SQL, dialect)
    return known


async def read_together(
    session: AsyncSession, reads: Sequence[tuple[Read, Mapping[str, Any]]]
) -> list[list[Any]]:
    """The rows of each read, in order, read in one round trip in the session's tenant."""
    tenant: TenantScope | None = session.info.get("tenant")
    if tenant is None or session.in_transaction():
        return [list(await session.execute(read.statement, dict(values))) for read, values in reads]
    engine = session.bind
    assert isinstance(engine, AsyncEngine), "a tenant's session is bound to its cluster's engine"
    async with engine.connect() as connection:  # the dialect is initialised by then: compiled after
        pooled = await connection.get_raw_connection()
        driver: psycopg.AsyncConnection[Any] = pooled.driver_connection  # type: ignore[assignment]
        dialect = engine.dialect
        flight = [_scope(dialect).bound({"schema": tenant.schema, "role": tenant.role})]
        flight += [read.compiled(dialect).bound(values) for read, values in reads]
        query = _one_string(driver, flight)  # a value psycopg refuses leaves the connection as it was
        for callback in list(_listeners):
            callback([statement for statement, _values in flight])
        try:
            answers = await _send(driver, query, len(reads))
        except BaseException:
            # Whatever state it was left in (inside the transaction, in autocommit, broken), this
            # connection is not given to anyone again. (SQLAlchemy, seeing a connection die, would also
            # drop the pool's older ones; here the checkout's poll finds those one by one.)
            await connection.invalidate()
            raise
        pooled.info.setdefault(TENANTS_SERVED, set()).add(tenant.schema)
    return [read.rows(dialect, *answer) for (read, _values), answer in zip(reads, answers, strict=True)]


def _one_string(driver: psycopg.AsyncConnection[Any], flight: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """``BEGIN; <each statement, its values bound by psycopg>; COMMIT``."""
    cursor = psycopg.AsyncClientCursor(driver)
    bound = [cursor.mogrify(statement, values) for statement, values in flight]
    return ";\n".join(["BEGIN", *bound, "COMMIT"])


async def _send(
    driver: psycopg.AsyncConnection[Any], query: str, reads: int
) -> list[tuple[tuple[int, ...], list[Any]]]:
    """Run the string; each read's column types and rows (the results of BEGIN and the scoping skipped)."""
    cursor = psycopg.AsyncClientCursor(driver)
    await driver.set_autocommit(True)  # the string's own BEGIN, not another round trip for psycopg's
    await cursor.execute(query)
    answers = []
    cursor.nextset()  # BEGIN → the scoping
    for _read in range(reads):
        cursor.nextset()
        result = cursor.pgresult
        assert result is not None
        codes = tuple(result.ftype(column) for column in range(result.nfields))
        answers.append((codes, await cursor.fetchall()))
    if cursor.nextset() is None or driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("the reads' transaction did not end with their COMMIT")
    await driver.set_autocommit(False)
    return answers
