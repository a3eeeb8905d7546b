"""Long lists on staff pages: page numbers read from the query, pages of ``PAGE_SIZE`` rows, and
searches matched literally."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.db.reads import Read, read_together

PAGE_SIZE = 50
MAX_PAGE = 10_000


def escape_like(value: str) -> str:
    """``value`` matched literally by ``ILIKE … ESCAPE '\\'``: its ``%`` and ``_`` are not wildcards."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page_number(request: Request) -> int:
    """``?page=``, from 1 to ``MAX_PAGE``; anything else is the first page."""
    raw = request.query_params.get("page", "1")
    return min(MAX_PAGE, max(1, int(raw))) if re.fullmatch(r"[0-9]{1,6}", raw) else 1


@dataclasses.dataclass(frozen=True)
class Pagination:
    page: int
    total: int
    base_query: dict[str, str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    def link(self, page: int) -> str:
        return "?" + urlencode({**self.base_query, "page": str(page)})

    @property
    def previous(self) -> str | None:
        return self.link(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.page + 1) if self.page < self.pages else None


@dataclasses.dataclass(frozen=True)
class PagedQuery:
    """A list's statement made ready for ``paginate``: its rows with the count of all of them as a last
    column, the offset and limit as parameters, and the count alone (for a page past the last). Built
    once for a hot list (building a statement with its subqueries costs more than sending it), whose page
    is then read in one round trip with its transaction (``db.reads.read_together``)."""

    rows: Read
    count: Any


def _with_count(query: Any) -> tuple[Any, Any]:
    """The page's statement (the count of all rows as a last column) and the count alone."""
    count = select(func.count()).select_from(query.order_by(None).subquery())
    rows = (
        query.add_columns(count.scalar_subquery().label("rows_in_all_pages"))
        .offset(bindparam("page_offset"))
        .limit(bindparam("page_limit"))
    )
    return rows, count


def paged(query: Any) -> PagedQuery:
    """A hot list's ``PagedQuery`` (of named columns, as every ``Read``)."""
    rows, count = _with_count(query)
    return PagedQuery(Read(rows), count)


async def paginate(
    db_session: AsyncSession,
    query: Any,
    page: int,
    base_query: dict[str, str],
    parameters: dict[str, Any] | None = None,
) -> tuple[Sequence[Any], Pagination]:
    """One page of ``query``'s rows (tuples of its columns), and the links to the others (the filters
    kept). ``query`` is a statement, or a ``PagedQuery`` built once, with its ``parameters``. One
    statement: the count of all the rows rides along as a last column, an uncorrelated scalar subquery
    PostgreSQL computes once (the page itself still a top-N of the order); only a page past the last
    asks for the count on its own."""
    values = parameters or {}
    window = {**values, "page_offset": (page - 1) * PAGE_SIZE, "page_limit": PAGE_SIZE}
    if isinstance(query, PagedQuery):
        [found] = await read_together(db_session, [(query.rows, window)])
        count = query.count
    else:  # a statement built for this request: SQLAlchemy's compiled cache knows it, a Read would not
        rows_statement, count = _with_count(query)
        found = list((await db_session.execute(rows_statement, window)).all())
    total = int(found[0][-1]) if found else 0
    if not found and page > 1:  # past the last page: how many there are, for its links
        total = await db_session.scalar(count, values) or 0
    rows = [tuple(row)[:-1] for row in found]
    return rows, Pagination(page, total, {k: v for k, v in base_query.items() if v})
