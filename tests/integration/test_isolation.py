"""Scope isolation: a forgotten tenant reads nothing; one tenant never reads another's rows."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError

from bippop.accounts.models import Person
from bippop.config import Settings
from bippop.db.engine import make_engine, session_factory
from bippop.tenants.context import TenantRef


@pytest.fixture(scope="module")
def marked(settings: Settings, tenant: TenantRef, other_tenant: TenantRef) -> dict[str, str]:
    """One row in each tenant whose name says whose it is."""
    engine = make_engine(settings, pool_size=1)
    Session = session_factory(engine)
    markers = {}
    for ref in (tenant, other_tenant):
        with Session(info={"tenant": ref}) as session, session.begin():
            name = f"marker-{ref.slug}"
            exists = session.scalar(select(Person.id).where(Person.display_name == name))
            if exists is None:
                session.add(Person(id=uuid.uuid4(), display_name=name, roles=["volunteer"]))
            markers[ref.slug] = name
    engine.dispose()
    return markers


def test_unscoped_query_reads_nothing(settings: Settings, marked: dict[str, str]) -> None:
    engine = make_engine(settings, pool_size=1)
    with session_factory(engine)() as session, pytest.raises(ProgrammingError, match="does not exist"):
        session.execute(select(Person)).all()
    engine.dispose()


def test_tenant_role_cannot_read_another_schema(
    settings: Settings, tenant: TenantRef, other_tenant: TenantRef, marked: dict[str, str]
) -> None:
    engine = make_engine(settings, pool_size=1)
    with (
        session_factory(engine)(info={"tenant": tenant}) as session,
        pytest.raises(ProgrammingError) as error,
    ):
        session.execute(text(f"select * from {other_tenant.schema}.people")).all()
    assert "permission denied" in str(error.value)
    with session_factory(engine)(info={"tenant": tenant}) as session, pytest.raises(ProgrammingError):
        session.execute(text("select * from platform.tenants")).all()
    engine.dispose()


def test_thousand_alternations_on_one_pooled_connection_never_leak(
    settings: Settings, tenant: TenantRef, other_tenant: TenantRef, marked: dict[str, str]
) -> None:
    engine = make_engine(settings, pool_size=1)
    engine.pool._max_overflow = 0  # type: ignore[attr-defined]  # exactly one connection
    Session = session_factory(engine)
    leaks = 0
    for i in range(1000):
        ref = tenant if i % 2 == 0 else other_tenant
        with Session(info={"tenant": ref}) as session:
            names = set(
                session.scalars(select(Person.display_name).where(Person.display_name.like("marker-%")))
            )
        if names != {marked[ref.slug]}:
            leaks += 1
    # After the last transaction the connection is back to the login role and default path.
    with engine.connect() as connection:
        role, path = connection.execute(text("select current_user, current_setting('search_path')")).one()
        assert role != other_tenant.role
        assert other_tenant.schema not in path
    assert engine.pool.checkedin() == 1
    engine.dispose()
    assert leaks == 0
