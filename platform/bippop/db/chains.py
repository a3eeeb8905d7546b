"""The two Alembic chains, driven from code (no ``alembic.ini``, no ``env.py``).

``platform`` runs online against schema ``platform``. ``tenant`` is rendered to
SQL once per starting revision (Alembic's offline mode) and that SQL is applied
to each tenant schema under its own ``search_path``: the same migration for
thousands of schemas costs one rendering, and no module-level ``op`` proxy is
shared between the threads that migrate tenants in parallel.

A service module with its own tables brings a branch of the tenant chain (its first revision
``depends_on`` a core revision, with a ``branch_labels`` of its slug): the chain then has several
heads, and a tenant's revision is their sorted list joined by ``+`` (``events_0001+t0007``), read
from its ``alembic_version`` rows. A revision a schema records but the chain does not know (a module
uninstalled without removing its branch, or older code on a newer database) fails that tenant's
migration with the revision named, like any unknown revision: nothing is guessed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

Chain = Literal["platform", "tenant"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

HEADS_SEPARATOR = "+"

# Extra version folders per chain: a benchmark's or a test's synthetic change.
_extra_versions: dict[Chain, list[Path]] = {"platform": [], "tenant": []}
# The branches of the installed service modules (registered by ``modules.assembly``; kept by a clear).
_module_versions: dict[Chain, list[Path]] = {"platform": [], "tenant": []}


_branches_known = False


def _changed() -> None:
    script_directory.cache_clear()
    tenant_upgrade_sql.cache_clear()


def add_version_location(chain: Chain, folder: Path) -> None:
    """Make the revisions in ``folder`` part of ``chain`` (before the first use of the chain)."""
    if folder not in _extra_versions[chain]:
        _extra_versions[chain].append(folder)
        _changed()


def use_module_branches(chain: Chain, folders: Iterable[Path]) -> None:
    """The installed service modules' revisions, each folder a branch of ``chain``, replacing those set
    before (``modules.assembly.prepare``, once per process and again when the modules change). Until
    it is called the tenant chain refuses to be used: a tenant migrated then would miss their tables."""
    global _branches_known
    _module_versions[chain][:] = list(folders)
    _branches_known = True
    _changed()


def clear_version_locations(chain: Chain) -> None:
    """Back to the chain's own revisions and the modules' branches."""
    _extra_versions[chain].clear()
    _changed()


@cache
def script_directory(chain: Chain) -> ScriptDirectory:
    if chain == "tenant" and not _branches_known:
        raise RuntimeError(
            "the modules' branches of the tenant chain are not known yet: call prepare() first"
        )
    base = MIGRATIONS_DIR / chain
    folders = [*_module_versions[chain], *_extra_versions[chain]]
    locations = [str(base / "versions"), *(str(p) for p in folders)]
    return ScriptDirectory(str(base), version_locations=locations)


def heads(chain: Chain) -> tuple[str, ...]:
    found = tuple(sorted(script_directory(chain).get_heads()))
    if not found:
        raise RuntimeError(f"the {chain} migration chain has no revision")
    return found


def own_head(chain: Chain) -> str:
    """The head of the chain's own revisions, without the modules' branches: what a new core revision
    (or a test's synthetic change) revises."""
    base = MIGRATIONS_DIR / chain
    locations = [str(base / "versions"), *(str(p) for p in _extra_versions[chain])]
    revision = ScriptDirectory(str(base), version_locations=locations).get_current_head()
    if revision is None:
        raise RuntimeError(f"the {chain} migration chain has no revision")
    return revision


def head(chain: Chain) -> str:
    """The chain's heads as one comparable value (one revision id when the chain has no branch)."""
    return HEADS_SEPARATOR.join(heads(chain))


def joined(revisions: Iterable[str]) -> str | None:
    """What a schema's ``alembic_version`` rows say, as one value like ``head()`` (None: no row)."""
    found = sorted(revisions)
    return HEADS_SEPARATOR.join(found) if found else None


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
    """The SQL that takes one tenant schema from ``from_revision`` (None: empty; heads joined by ``+``)
    to every head of the chain."""
    script = script_directory("tenant")
    buffer = io.StringIO()
    start = tuple(from_revision.split(HEADS_SEPARATOR)) if from_revision else ()
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={
            "as_sql": True,
            "output_buffer": buffer,
            "starting_rev": list(start) or None,
            "transactional_ddl": False,
            "literal_binds": True,
            # Alembic takes the current heads as a tuple here, though its annotation says one id.
            "fn": lambda rev, _ctx: script._upgrade_revs("heads", start or "base"),  # type: ignore[arg-type]
        },
    )
    with Operations.context(context):
        context.run_migrations()
    return buffer.getvalue()
