"""A third-party service module, built and pip-installed the way a council's integrator would: a package
with a ``bippop.modules`` entry point whose manifest brings a page (``/jardinage``), a permission
(``gardening.view``), a tenant table (``gardening_plots``, its own branch of the tenant chain) and a
statistic; and a broken one, which must be left out. ``installed_plugins`` installs both, makes them
known to the process (``modules.assembly.prepare``) and migrates every tenant; on the way out the process
forgets them again and takes the gardening branch out of every schema (what an operator does before
removing a module with tables: its revision would otherwise stop the next migration)."""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

from bippop.config import Settings
from bippop.modules import registry
from bippop.modules.assembly import prepare
from bippop.tenants.context import TenantRef

GARDENING = """
from pathlib import Path

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bippop.accounts.permissions import requires
from bippop.db.base import TenantRecord
from bippop.modules.contract import Field, Label, MenuLink, ModuleManifest, Permission, Statistic


class Plot(TenantRecord):
    __tablename__ = "gardening_plots"

    name: Mapped[str] = mapped_column(String(100))


class PlotsController(Controller):
    path = "/jardinage"

    @get("/", guards=[requires("gardening.view")], name="gardening-plots")
    async def plots(self, db_session: NamedDependency[AsyncSession]) -> str:
        names = list(await db_session.scalars(select(Plot.name).order_by(Plot.name)))
        return "Jardins partagés : " + ", ".join(names)


manifest = ModuleManifest(
    slug="gardening",
    name=Label("Jardinage partagé", "Shared gardening"),
    description=Label("Un bénévole vous aide au jardin.", "A volunteer helps in your garden."),
    icon="leaf",
    fields=(Field("task", Label("Que faut-il faire ?", "What needs doing?"), "textarea"),),
    statistics=(Statistic("gardens", Label("Jardins aidés", "Gardens helped"), lambda rs: len(rs)),),
    controllers=(PlotsController,),
    links=(MenuLink("portal", "/jardinage", Label("Les jardins partagés", "The shared gardens")),),
    permissions=(
        Permission("gardening.view", frozenset({"volunteer", "coordinator"}), "See the shared gardens"),
    ),
    migrations=Path(__file__).parent / "migrations",
)
"""

GARDENING_REVISION = '''
"""Gardening module: its plots.

Revision ID: gardening_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "gardening_0001"
down_revision = None
branch_labels = ("gardening",)
depends_on = "t0001"


def upgrade() -> None:
    op.create_table(
        "gardening_plots",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("gardening_plots")
'''

BROKEN = "raise RuntimeError('this module is broken on purpose')\n"
PACKAGES = ("bippop_gardening", "bippop_broken")


def _package(root: Path, name: str, module_source: str, entry: str, files: dict[str, str]) -> Path:
    folder = root / name
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(module_source)
    for relative, text in files.items():
        (folder / name / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / name / relative).write_text(text)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=70"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name.replace("_", "-")}"
            version = "1.0.0"

            [project.entry-points."bippop.modules"]
            {entry} = "{name}:manifest"

            [tool.setuptools.package-data]
            {name} = ["migrations/*.py"]
            """
        )
    )
    return folder


def _forget_packages() -> None:
    for name in [m for m in sys.modules if m.startswith(PACKAGES)]:
        del sys.modules[name]
    importlib.invalidate_caches()


@contextlib.contextmanager
def installed_plugins(
    root: Path, settings: Settings | None = None, tenants: Sequence[TenantRef] = ()
) -> Iterator[Path]:
    """pip installs the two packages into a folder put on sys.path (what `pip install` does), makes the
    process know them, and migrates ``tenants`` (the gardening table appears in their schemas)."""
    target = root / "site"
    good = _package(
        root, "bippop_gardening", GARDENING, "gardening", {"migrations/gardening_0001.py": GARDENING_REVISION}
    )
    broken = _package(root, "bippop_broken", BROKEN, "broken", {})
    for package in (good, broken):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--disable-pip-version-check",
                "--target",
                str(target),
                str(package),
            ],
            check=True,
        )
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    registry.refresh()
    try:
        prepare()
        if settings is not None:
            _migrate(settings, tenants)
        yield target
    finally:
        if settings is not None:
            _remove_branch(settings)
        sys.path.remove(str(target))
        _forget_packages()
        registry.refresh()
        prepare()
        from bippop.db.base import TenantBase

        if "gardening_plots" in TenantBase.metadata.tables:
            TenantBase.metadata.remove(TenantBase.metadata.tables["gardening_plots"])


def _migrate(settings: Settings, tenants: Sequence[TenantRef]) -> None:
    """What `bippop migrate` does for these tenants (the others of the test database are left alone)."""
    from bippop.runtime.operations import resources_for
    from bippop.tenants.migrator import migrate_schema

    engine = resources_for(settings).admin_engine
    for tenant in tenants:
        with engine.begin() as connection:
            migrate_schema(connection, tenant.id, tenant.schema)


def _remove_branch(settings: Settings) -> None:
    """The gardening branch downgraded by hand in every schema that has it (table and revision row)."""
    from sqlalchemy import text

    from bippop.runtime.operations import resources_for

    with resources_for(settings).admin_engine.begin() as connection:
        schemas = connection.execute(
            text("select table_schema from information_schema.tables where table_name = 'gardening_plots'")
        ).scalars()
        for schema in list(schemas):
            connection.execute(text(f'drop table "{schema}".gardening_plots'))
            connection.execute(
                text(f"delete from \"{schema}\".alembic_version where version_num = 'gardening_0001'")
            )
        for table in ("tenants", "spare_schemas"):
            connection.execute(
                text(
                    f"update platform.{table} set revision = "
                    "array_to_string(array_remove(string_to_array(revision, '+'), 'gardening_0001'), '+') "
                    "where revision like '%gardening_0001%'"
                )
            )
