"""Export, restore (verified against the manifest), delete after a grace period, purge."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import tarfile
import uuid

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text

from bippop.accounts.models import AccountToken, Person
from bippop.aid.models import AvailabilityWindow
from bippop.config import Settings
from bippop.runtime.operations import (
    delete_tenant,
    export_tenant,
    purge_deleted,
    resources_for,
    restore_tenant,
    show_tenant,
)
from bippop.storage import TenantFiles, storage_from_settings
from bippop.tenants.context import TenantRef, tenant_cache_key
from bippop.tenants.errors import TenantError
from support import host, make_tenant


def _populate(settings: Settings, tenant: TenantRef, people: int = 3) -> None:
    Session = resources_for(settings).sessions()
    with Session(info={"tenant": tenant}) as session, session.begin():
        for i in range(people):
            person_id = uuid.uuid4()
            session.add(
                Person(
                    id=person_id,
                    display_name=f"Personne {i}, « guillemets », virgule\nnouvelle ligne",
                    email=f"p{i}-{tenant.slug}@example.fr",
                    roles=["volunteer"] if i % 2 else ["beneficiary"],
                )
            )
            session.flush()
            # Tables sorted before "people" that reference it: a restore must load people first.
            session.add(
                AccountToken(
                    id=uuid.uuid4(),
                    purpose="verify_email",
                    token_hash=uuid.uuid4().hex * 2,
                    person_id=person_id,
                    expires_at=datetime.datetime.now(datetime.UTC),
                )
            )
            session.add(AvailabilityWindow(person_id=person_id, weekday=1, start_minute=840, end_minute=1020))
    files = TenantFiles(storage_from_settings(settings), tenant)
    files.put("reports", "2026", "compte-rendu.txt", b"Visite du 3 mars : tout va bien.")
    files.put("logo.png", b"\x89PNG fake")


def _people(settings: Settings, tenant: TenantRef) -> list[tuple[str, str | None, list[str]]]:
    Session = resources_for(settings).sessions()
    with Session(info={"tenant": tenant}) as session:
        rows = session.execute(select(Person.display_name, Person.email, Person.roles).order_by(Person.email))
        return [(name, email, list(roles)) for name, email, roles in rows]


def test_export_writes_a_verifiable_archive(settings: Settings) -> None:
    tenant = make_tenant(settings, "export-a", "Exportville")
    _populate(settings, tenant)
    key, manifest = export_tenant(settings, "export-a")
    assert key.startswith(f"exports/{tenant.id}/") and key.endswith(".tar.gz")
    assert manifest["tables"]["people"]["rows"] == 3
    assert manifest["tables"]["settings"]["rows"] == 2
    assert set(manifest["files"]) == {"reports/2026/compte-rendu.txt", "logo.png"}
    blob = storage_from_settings(settings).get(key)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        names = set(tar.getnames())
        inside = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"manifest.json", "data/people.csv", "data/settings.csv", "files/logo.png"} <= names
    assert inside["tables"] == manifest["tables"]
    assert show_tenant(settings, "export-a")["état"] == "active"


def test_restore_as_a_new_tenant_matches_the_original(settings: Settings) -> None:
    tenant = make_tenant(settings, "restore-src", "Sourceville")
    _populate(settings, tenant, people=5)
    key, _ = export_tenant(settings, "restore-src")
    restored = restore_tenant(settings, key, slug="restore-copy")
    assert restored.status == "active"
    assert _people(settings, restored.ref()) == _people(settings, tenant)
    files = TenantFiles(storage_from_settings(settings), restored.ref())
    assert files.get("reports", "2026", "compte-rendu.txt").decode() == "Visite du 3 mars : tout va bien."
    assert sorted(files.list()) == ["logo.png", "reports/2026/compte-rendu.txt"]


def test_an_archive_made_before_a_modules_branch_is_restored(settings: Settings) -> None:
    """Archives from before the events module had its own branch record only the core's head (the tables
    were the same, made by the core): they restore, and the schema says it is at the platform's heads."""
    from bippop.db import chains

    tenant = make_tenant(settings, "avant-branche", "Avantville")
    _populate(settings, tenant, people=2)
    key, _ = export_tenant(settings, "avant-branche")
    storage = storage_from_settings(settings)
    core = chains.own_head("tenant")
    old_rows = f"version_num\n{core}\n".encode()
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(storage.get(key)), mode="r:gz") as src,
        tarfile.open(fileobj=out, mode="w:gz") as dst,
    ):
        members = {m.name: (m, src.extractfile(m).read()) for m in src.getmembers()}  # type: ignore[union-attr]
        manifest = json.loads(members["manifest.json"][1])
        manifest["revision"] = core
        manifest["tables"]["alembic_version"] = {
            "rows": 1,
            "sha256": hashlib.sha256(old_rows).hexdigest(),
        }
        for name, (member, data) in members.items():
            if name == "manifest.json":
                data = json.dumps(manifest).encode()
            elif name == "data/alembic_version.csv":
                data = old_rows
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    storage.put(key + ".old.tar.gz", out.getvalue())
    restored = restore_tenant(settings, key + ".old.tar.gz", slug="avant-copie")
    assert _people(settings, restored.ref()) == _people(settings, tenant)
    with resources_for(settings).admin_engine.connect() as connection:
        versions = connection.execute(
            text(f"select version_num from {restored.schema_name}.alembic_version")
        ).scalars()
        assert set(versions) == set(chains.heads("tenant"))


def test_a_damaged_archive_is_refused(settings: Settings) -> None:
    tenant = make_tenant(settings, "damaged", "Abîméville")
    _populate(settings, tenant, people=1)
    key, _ = export_tenant(settings, "damaged")
    storage = storage_from_settings(settings)
    original = storage.get(key)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(original), mode="r:gz") as src,
        tarfile.open(fileobj=out, mode="w:gz") as dst,
    ):
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "data/people.csv":
                data = data.replace(b"Personne 0", b"Personne X")
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    storage.put(key + ".bad.tar.gz", out.getvalue())
    with pytest.raises(TenantError, match="people"):
        restore_tenant(settings, key + ".bad.tar.gz", slug="damaged-copy")


def test_deletion_needs_an_export_then_waits_for_its_grace_period(settings: Settings) -> None:
    make_tenant(settings, "no-export", "Sansexport")
    with pytest.raises(TenantError, match="Exportez"):
        delete_tenant(settings, "no-export", grace_days=30)
    tenant = make_tenant(settings, "grace", "Grâceville")
    export_tenant(settings, "grace")
    delete_tenant(settings, "grace", grace_days=30)
    assert show_tenant(settings, "grace")["état"] == "deleting"
    assert "grace" not in purge_deleted(settings)
    with resources_for(settings).admin_engine.connect() as connection:
        assert (
            connection.execute(text("select to_regnamespace(:s)"), {"s": tenant.schema}).scalar() is not None
        )


async def test_deleted_tenant_portal_is_closed_then_everything_is_removed(
    settings: Settings, client: AsyncTestClient
) -> None:
    tenant = make_tenant(settings, "adieu", "Adieuville", domains=["entraide.adieuville.fr"])
    _populate(settings, tenant)
    resources = resources_for(settings)
    assert resources.redis is not None
    resources.redis.set(tenant_cache_key("home", tenant=tenant), "cached")
    from bippop.accounts.rate_limits import RateLimiter

    RateLimiter(settings.redis_url or "").hit(
        "sign_in", tenant_id=tenant.id, account="x@y.fr", address="10.9.9.9"
    )
    assert (await client.get("/", headers=host("adieu"))).status_code == 200
    export_key, _ = export_tenant(settings, "adieu")

    delete_tenant(settings, "adieu", grace_days=0)
    closed = await client.get("/", headers=host("entraide.adieuville.fr"))
    assert closed.status_code == 503
    assert "fermé" in closed.text

    assert purge_deleted(settings) == ["adieu"]
    with resources.admin_engine.connect() as connection:
        assert connection.execute(text("select to_regnamespace(:s)"), {"s": tenant.schema}).scalar() is None
        assert not connection.execute(
            text("select 1 from pg_roles where rolname = :r"), {"r": tenant.role}
        ).scalar()
        assert not connection.execute(text("select 1 from platform.tenants where slug = 'adieu'")).scalar()
        assert not connection.execute(
            text("select 1 from platform.domains where hostname = 'entraide.adieuville.fr'")
        ).scalar()
    storage = storage_from_settings(settings)
    assert storage.list(f"tenants/{tenant.id}/") == []
    assert list(resources.redis.scan_iter(match=f"*{tenant.id}*")) == []
    assert (await client.get("/", headers=host("adieu"))).status_code == 404
    # The export outlives the tenant, and brings it back.
    assert storage.exists(export_key)
    back = restore_tenant(settings, export_key)
    assert back.slug == "adieu" and back.status == "active"
    assert len(_people(settings, back.ref())) == 3
