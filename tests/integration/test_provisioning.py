"""Provisioning: pending → provisioning → active, idempotent, and recovering after a crash mid-way."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bippop.config import Settings
from bippop.db import chains
from bippop.runtime.operations import create_tenant, resources_for, show_tenant
from bippop.tenants.models import Tenant
from bippop.tenants.provisioning import STEPS, provision
from bippop.tenants.services import TenantError, TenantService
from support import BASE_DOMAIN, tenant_tables


def _register(settings: Settings, slug: str) -> Tenant:
    resources = resources_for(settings)
    with resources.admin_sessions().begin() as session:
        return TenantService(session, base_domain=BASE_DOMAIN).register(
            slug=slug, name=slug.title(), kind="commune", official_code="01001", check_official=False
        )


def _tables(settings: Settings, schema: str) -> set[str]:
    with resources_for(settings).admin_engine.connect() as connection:
        rows = connection.execute(
            text("select table_name from information_schema.tables where table_schema = :s"), {"s": schema}
        )
        return set(rows.scalars())


def test_provisioning_creates_schema_role_tables_and_defaults(settings: Settings) -> None:
    tenant = _register(settings, "gamma")
    assert tenant.status == "pending"
    assert provision(resources_for(settings).admin_engine, tenant.id) == "active"
    assert _tables(settings, "t_gamma") == tenant_tables()
    info = show_tenant(settings, "gamma")
    assert info["état"] == "active"
    assert info["révision"] == chains.head("tenant")
    with resources_for(settings).admin_engine.connect() as connection:
        role_ok = connection.execute(
            text("select has_schema_privilege(:r, 't_gamma', 'USAGE')"), {"r": tenant.db_role}
        ).scalar()
        assert role_ok


def test_provisioning_twice_changes_nothing(settings: Settings) -> None:
    tenant = _register(settings, "delta")
    engine = resources_for(settings).admin_engine
    assert provision(engine, tenant.id) == "active"
    assert provision(engine, tenant.id) == "active"
    assert _tables(settings, "t_delta") == tenant_tables()


@pytest.mark.parametrize("crash_after", STEPS[:-1])
def test_a_crash_mid_way_is_recorded_and_a_retry_completes_it(settings: Settings, crash_after: str) -> None:
    slug = f"crash-{crash_after}"
    tenant = _register(settings, slug)
    engine = resources_for(settings).admin_engine

    def crash(step: str) -> None:
        if step == crash_after:
            raise RuntimeError(f"simulated crash after {step}")

    with pytest.raises(RuntimeError):
        provision(engine, tenant.id, after_step=crash)
    info = show_tenant(settings, slug)
    assert info["état"] == "failed"
    assert "simulated crash" in info["dernière erreur"]
    assert provision(engine, tenant.id) == "active"
    info = show_tenant(settings, slug)
    assert info["état"] == "active"
    assert info["dernière erreur"] == "—"
    assert _tables(settings, "t_" + slug.replace("-", "_")) == tenant_tables()


@pytest.mark.parametrize(
    ("slug", "field"),
    [("ab", "slug"), ("Compiegne", "slug"), ("coop", "slug"), ("a--b", "slug"), ("x" * 41, "slug")],
)
def test_invalid_slugs_are_refused_with_a_clear_message(settings: Settings, slug: str, field: str) -> None:
    with pytest.raises(TenantError) as error:
        create_tenant(settings, slug, "Nom", "commune", "60159", check_official=False)
    assert error.value.field == field
    assert "identifiant" in str(error.value).lower()


def test_duplicate_slug_and_domain_are_refused(settings: Settings, tenant: object) -> None:
    with pytest.raises(TenantError, match="déjà pris"):
        create_tenant(settings, "alpha", "Autre", "commune", "60159", check_official=False)
    with pytest.raises(TenantError, match="déjà utilisé"):
        create_tenant(
            settings,
            "epsilon",
            "Epsilon",
            "commune",
            "60159",
            domains=["aide.alphaville.fr"],
            check_official=False,
        )


def test_low_contrast_colour_is_refused(settings: Settings) -> None:
    with pytest.raises(TenantError, match="contraste") as error:
        create_tenant(
            settings,
            "zeta",
            "Zeta",
            "commune",
            "60159",
            branding={"primary": "#ffff66"},
            check_official=False,
        )
    assert error.value.field == "primary"
