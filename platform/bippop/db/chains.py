"""The two Alembic chains, driven from code (no ``alembic.ini``, no ``env.py``).

``platform`` runs online against schema ``platform``. ``tenant`` is rendered to
SQL once per starting revision (Alembic's offline mode) and that SQL is applied
to each tenant schema under its own ``search_path``: the same migration for
thousands of schemas costs one rendering, and no module-level ``op`` proxy is
shared between the threads that migrate tenants in parallel.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Literal

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

Chain = Literal["platform", "tenant"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Extra version folders per chain: a plugin's migrations, or a benchmark's synthetic change.
_extra_versions: dict[Chain, list[Path]] = {"platform": [], "tenant": []}


def add_version_location(chain: Chain, folder: Path) -> None:
    """Make the revisions in ``folder`` part of ``chain`` (before the first use of the chain)."""
    _extra_versions[chain].append(folder)
    script_directory.cache_clear()
    tenant_upgrade_sql.cache_clear()


def clear_version_locations(chain: Chain) -> None:
    """Back to the chain's own revisions only."""
    _extra_versions[chain].clear()
    script_directory.cache_clear()
    tenant_upgrade_sql.cache_clear()


@cache
def script_directory(chain: Chain) -> ScriptDirectory:
    base = MIGRATIONS_DIR / chain
    locations = [str(base / "versions"), *(str(p) for p in _extra_versions[chain])]
    return ScriptDirectory(str(base), version_locations=locations)


def head(chain: Chain) -> str:
    revision = script_directory(chain).get_current_head()
    if revision is None:
        raise RuntimeError(f"the {chain} migration chain has no revision")
    return revision


def upgrade_platform(connection: Connection) -> str | None:
    """Bring schema ``platform`` to head inside the connection's transaction; returns the old revision."""
    connection.execute(text("create schema if not exists platform"))
    script = script_directory("platform")
    context = MigrationContext.configure(
        connection,
        opts={
            "version_table_schema": "platform",
            "fn": lambda rev, _ctx: script._upgrade_revs("head", rev),
        },
    )
    before = context.get_current_revision()
    with Operations.context(context):
        context.run_migrations()
    return before


@cache
def tenant_upgrade_sql(from_revision: str | None) -> str:
    """The SQL that takes one tenant schema from ``from_revision`` (None: empty) to head."""
    script = script_directory("tenant")
    buffer = io.StringIO()
    start = from_revision or "base"
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={
            "as_sql": True,
            "output_buffer": buffer,
            "starting_rev": None if start == "base" else start,
            "transactional_ddl": False,
            "literal_binds": True,
            "fn": lambda rev, _ctx: script._upgrade_revs("head", start),
        },
    )
    with Operations.context(context):
        context.run_migrations()
    return buffer.getvalue()
