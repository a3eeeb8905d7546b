"""`bippop migrate` killed in the middle of a real schema change, then started again.

Runs in a database of its own (the synthetic change must not leak into the
other tests' chain), through the real command in subprocesses.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from bippop.db import chains
from bippop.db.engine import sqlalchemy_url
from support import clean_env, write_synthetic_change

pytestmark = pytest.mark.slow

TENANTS = 60


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    name = f"bippop_resume_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(sqlalchemy_url(database_url)).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    try:
        yield make_url(sqlalchemy_url(database_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'drop database if exists "{name}" with (force)'))
            roles = connection.execute(
                text("select rolname from pg_roles where rolname like :p"),
                {"p": "bp%_t_resume_%"},
            ).scalars()
            for role in list(roles):
                connection.execute(text(f'drop role if exists "{role}"'))
        admin.dispose()


def _env(url: str, var_dir: Path) -> dict[str, str]:
    env = clean_env(BIPPOP_DATABASE_URL=url, BIPPOP_VAR_DIR=str(var_dir), BIPPOP_SPARE_POOL_SIZE="0")
    return env


def _python(code: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], env=env, text=True, **kwargs)  # type: ignore[call-overload]


def _migrate_code(extra: Path | None) -> str:
    add = f"chains.add_version_location('tenant', Path({str(extra)!r}))" if extra else ""
    return (
        "import sys\nfrom pathlib import Path\nfrom bippop.db import chains\n"
        f"{add}\nfrom bippop.cli import main\n"
        "sys.argv = ['bippop', 'migrate', '--concurrency', '2']\nmain()\n"
    )


def _states(engine: Engine) -> dict[str, tuple[str | None, bool, bool]]:
    """slug → (recorded revision, visit_notes exists, people.phone_verified exists)."""
    states = {}
    with engine.connect() as connection:
        rows = connection.execute(text("select slug, schema_name, revision from platform.tenants")).all()
        for slug, schema, revision in rows:
            table = connection.execute(
                text("select to_regclass(:t)"), {"t": f"{schema}.visit_notes"}
            ).scalar()
            column = connection.execute(
                text(
                    "select 1 from information_schema.columns where table_schema = :s "
                    "and table_name = 'people' and column_name = 'phone_verified'"
                ),
                {"s": schema},
            ).scalar()
            states[slug] = (revision, table is not None, bool(column))
    return states


def test_killed_migration_resumes_and_never_leaves_a_tenant_half_done(
    own_database: str, tmp_path: Path
) -> None:
    env = _env(own_database, tmp_path / "var")
    setup = _python(
        "from bippop.config import get_settings\n"
        "from bippop.runtime.operations import migrate_everything, create_tenant\n"
        "from bippop.modules.assembly import prepare; prepare()\n"
        "import logging; logging.disable(logging.CRITICAL)\n"
        "s = get_settings(); migrate_everything(s)\n"
        f"for i in range({TENANTS}): create_tenant(s, f'resume-{{i:03d}}', f'Reprise {{i}}', 'commune', '06006', check_official=False)\n",
        env,
    )
    assert setup.wait(180) == 0
    extra = tmp_path / "versions"
    # The change revises the core's own head; the modules' branches stay heads beside it.
    core = chains.own_head("tenant")
    change = write_synthetic_change(extra, core, sleep_seconds=0.05)
    new_head = chains.HEADS_SEPARATOR.join(sorted({*chains.heads("tenant")} - {core} | {change}))
    engine = create_engine(own_database)

    first = _python(_migrate_code(extra), env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = sum(1 for state in _states(engine).values() if state[0] == new_head)
        if done >= 10:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    states = _states(engine)
    migrated = [s for s, st in states.items() if st[0] == new_head]
    behind = [s for s, st in states.items() if st[0] != new_head]
    assert migrated and behind, "the kill should land in the middle of the run"
    for slug, (revision, table, column) in states.items():
        # Each tenant is entirely before or entirely after the change.
        assert (table, column) == ((True, True) if revision == new_head else (False, False)), slug

    second = _python(_migrate_code(extra), env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = second.communicate(timeout=180)
    assert second.returncode == 0, output
    assert f"{len(behind)} collectivité(s) migrée(s)" in output
    assert all(state == (new_head, True, True) for state in _states(engine).values())
    engine.dispose()
