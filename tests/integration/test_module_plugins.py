"""A third-party module is a package with a ``bippop.modules`` entry point: installed with pip, it is
discovered and can be switched on per tenant; a broken one is left out, never a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.modules import registry

PACKAGE = """
from bippop.modules.contract import Field, Label, ModuleManifest, Statistic

manifest = ModuleManifest(
    slug="gardening",
    name=Label("Jardinage partagé", "Shared gardening"),
    description=Label("Un bénévole vous aide au jardin.", "A volunteer helps in your garden."),
    icon="leaf",
    fields=(Field("task", Label("Que faut-il faire ?", "What needs doing?"), "textarea"),),
    statistics=(Statistic("gardens", Label("Jardins aidés", "Gardens helped"), lambda rs: len(rs)),),
)
"""

BROKEN = "raise RuntimeError('this module is broken on purpose')\n"


def _package(root: Path, name: str, module_source: str, entry: str) -> Path:
    folder = root / name
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(module_source)
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
            """
        )
    )
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pip installs two small module packages into a folder put on sys.path: what `pip install` does."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    good = _package(root, "bippop_gardening", PACKAGE, "gardening")
    broken = _package(root, "bippop_broken", BROKEN, "broken")
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
    import importlib

    importlib.invalidate_caches()
    registry.refresh()
    yield target
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m.startswith(("bippop_gardening", "bippop_broken"))]:
        del sys.modules[name]
    importlib.invalidate_caches()
    registry.refresh()


def test_installed_module_is_discovered_and_broken_one_left_out(installed: Path) -> None:
    modules = registry.installed_modules()
    assert "gardening" in modules
    assert "broken" not in modules
    assert "visits" in modules  # the built-in ones are still there
    assert str(modules["gardening"].name) == "Jardinage partagé"


async def test_a_tenant_switches_modules_on_and_off(installed: Path, settings, tenant) -> None:  # type: ignore[no-untyped-def]
    from bippop.db.engine import async_session_factory, make_async_engine

    engine = make_async_engine(settings)
    try:
        async with async_session_factory(engine)(info={"tenant": tenant}) as session:
            assert "gardening" in await registry.enabled_slugs(session)  # nothing chosen yet: all on
            await registry.set_enabled(session, ["visits", "gardening"])
            await session.commit()
        async with async_session_factory(engine)(info={"tenant": tenant}) as session:
            assert await registry.enabled_slugs(session) == ["visits", "gardening"]
            with pytest.raises(ValueError):
                await registry.set_enabled(session, ["visits", "no-such-module"])
            await session.rollback()
            await _reset(session)
    finally:
        await engine.dispose()


async def _reset(session: AsyncSession) -> None:
    from sqlalchemy import delete

    from bippop.accounts.models import Setting

    await session.execute(delete(Setting).where(Setting.key == registry.ENABLED_SETTING))
    await session.commit()


def test_the_installed_module_is_offered_on_the_portal(installed: Path, settings, tenant) -> None:  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from bippop.app import create_app
    from support import BASE_DOMAIN, host

    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        home = web.get("/", headers=host("alpha"))
        assert 'href="/demander/gardening"' in home.text and "Jardinage partagé" in home.text


def test_requests_of_a_vanished_module_are_hidden_not_fatal() -> None:
    assert registry.visible_modules(["visits", "uninstalled_one"]) == frozenset({"visits"})
