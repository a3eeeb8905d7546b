"""A third-party module is a package with a ``bippop.modules`` entry point: installed with pip, it is
discovered and can be switched on per tenant; a broken one is left out, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.config import Settings
from bippop.modules import registry
from bippop.tenants.context import TenantRef
from plugin_modules import installed_plugins


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, tenant: TenantRef, other_tenant: TenantRef
) -> Iterator[Path]:
    with installed_plugins(tmp_path_factory.mktemp("plugins"), settings, [tenant, other_tenant]) as target:
        yield target


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


def test_the_modules_route_permission_and_table_work(installed: Path, settings, tenant, resources) -> None:  # type: ignore[no-untyped-def]
    """The module's page reads its own table; its permission decides who sees it; its link is on the
    home page; switched off, the page is gone."""
    import uuid

    from litestar.testing import TestClient
    from sqlalchemy import text

    from bippop.accounts.permissions import PERMISSIONS
    from bippop.app import create_app
    from support import BASE_DOMAIN, forget_tenant_settings, host, log_in, make_person

    assert PERMISSIONS["gardening.view"] == frozenset({"volunteer", "coordinator"})
    with resources.tenant_session(tenant) as session, session.begin():
        session.execute(
            text("insert into gardening_plots (id, name) values (:id, 'Jardin des Capucins')"),
            {"id": uuid.uuid4()},
        )
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        assert web.get("/", headers=host("alpha")).text.count('href="/jardinage"') == 1
        anonymous = web.get(
            "/jardinage", headers={**host("alpha"), "Accept": "text/html"}, follow_redirects=False
        )
        assert anonymous.status_code in (302, 303, 401)  # sent to sign in first
        _id, email, _secret = make_person(resources, tenant, ["beneficiary"])
        log_in(web, "alpha", email)
        assert web.get("/jardinage", headers=host("alpha")).status_code == 403
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        _id, email, _secret = make_person(resources, tenant, ["volunteer"])
        log_in(web, "alpha", email)
        page = web.get("/jardinage", headers=host("alpha"))
        assert page.status_code == 200 and "Jardin des Capucins" in page.text
        with resources.tenant_session(tenant) as session, session.begin():
            session.execute(
                text("insert into settings (key, value) values ('modules.enabled', '[\"visits\"]')")
            )
        forget_tenant_settings(resources, tenant)
        try:
            assert web.get("/jardinage", headers=host("alpha")).status_code == 404
        finally:
            with resources.tenant_session(tenant) as session, session.begin():
                session.execute(text("delete from settings where key = 'modules.enabled'"))
            forget_tenant_settings(resources, tenant)
