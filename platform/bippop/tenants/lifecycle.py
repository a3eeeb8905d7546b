"""Tenant lifecycle beyond suspension: export, restore, delete after a grace period, purge.

An export is one ``.tar.gz`` in storage (``exports/<tenant id>/<timestamp>.tar.gz``,
outside the tenant's own prefix so that it outlives the tenant): every table of
the tenant schema as CSV, every file of the tenant, and a manifest with row
counts and SHA-256 checksums. A restore loads it into a freshly provisioned
tenant (the same slug on another cluster, or a new slug) and then checks the
restored data against the manifest. Deleting requires an export, waits for its
grace period, then removes schema, role, files, cache entries and the record.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, text

from bippop import __version__, clock
from bippop.tenants.cache import HostCache, host_key
from bippop.tenants.ddl import ensure_role, ensure_schema
from bippop.tenants.errors import TenantError
from bippop.tenants.files import TenantFiles, files_prefix
from bippop.tenants.migrator import apply_to_schema
from bippop.tenants.naming import checked_identifier, quoted

log = structlog.get_logger(__name__)

FORMAT = "bippop-tenant-export/1"
EXPORTS_PREFIX = "exports"
DEFAULT_GRACE = datetime.timedelta(days=30)


ClusterEngines = Callable[[str], Engine]


def _on(engine: Engine, cluster_engine: ClusterEngines | None, cluster: str) -> Engine:
    """The engine of the cluster holding a schema: the platform's own unless told otherwise."""
    return engine if cluster == "main" or cluster_engine is None else cluster_engine(cluster)


def _now() -> datetime.datetime:
    return clock.now()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _scope(connection: Connection, schema: str, role: str | None = None) -> None:
    """The tenant's search path; with ``role``, its rights too (reading: least privilege)."""
    connection.execute(text("select set_config('search_path', :s, true)"), {"s": checked_identifier(schema)})
    if role is not None:
        connection.execute(text("select set_config('role', :r, true)"), {"r": checked_identifier(role)})


def _driver(connection: Connection) -> Any:
    """The psycopg connection underneath, for COPY."""
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw


def _tables(connection: Connection, schema: str) -> list[str]:
    rows = connection.execute(
        text("select tablename from pg_tables where schemaname = :s order by tablename"), {"s": schema}
    )
    return [checked_identifier(name) for name in rows.scalars()]


def _load_order(connection: Connection, schema: str, names: list[str]) -> list[str]:
    """Tables in an order that satisfies their foreign keys: a table after the tables it references."""
    edges = connection.execute(
        text(
            "select c.conrelid::regclass::text, c.confrelid::regclass::text from pg_constraint c "
            "join pg_namespace n on n.oid = c.connamespace where c.contype = 'f' and n.nspname = :s "
            "and c.conrelid <> c.confrelid"
        ),
        {"s": schema},
    ).all()
    needs: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in edges:
        child, parent = child.rsplit(".", 1)[-1].strip('"'), parent.rsplit(".", 1)[-1].strip('"')
        if child in needs and parent in needs:
            needs[child].add(parent)
    ordered: list[str] = []
    while needs:
        ready = sorted(name for name, parents in needs.items() if not parents - set(ordered))
        if not ready:
            raise TenantError("Les clés étrangères du schéma forment un cycle.", field="archive")
        ordered.extend(ready)
        for name in ready:
            del needs[name]
    return ordered


def _column_count(connection: Connection, schema: str, table: str) -> int:
    return int(
        connection.execute(
            text(
                "select count(*) from information_schema.columns where table_schema = :s and table_name = :t"
            ),
            {"s": schema, "t": table},
        ).scalar_one()
    )


def _dump_table(connection: Connection, schema: str, table: str) -> tuple[bytes, int]:
    """The table as CSV in a stable order (every column, left to right), with its row count."""
    columns = _column_count(connection, schema, table)
    order = ", ".join(str(i) for i in range(1, columns + 1))
    raw = _driver(connection)
    buffer = io.BytesIO()
    with raw.cursor() as cursor:
        statement = (
            f"copy (select * from {quoted(table)} order by {order}) to stdout with (format csv, header)"
        )
        with cursor.copy(statement) as copy:
            for chunk in copy:
                buffer.write(chunk)
    count = int(connection.execute(text(f"select count(*) from {quoted(table)}")).scalar_one())
    return buffer.getvalue(), count


def _snapshot(connection: Connection, schema: str) -> dict[str, tuple[bytes, int]]:
    return {table: _dump_table(connection, schema, table) for table in _tables(connection, schema)}


@dataclasses.dataclass(frozen=True)
class ExportResult:
    key: str
    manifest: dict[str, Any]


def export_tenant(
    engine: Engine, storage: TenantFiles, tenant_id: uuid.UUID, cluster_engine: ClusterEngines | None = None
) -> ExportResult:
    """Write one archive of the tenant's data and files; returns its storage key and manifest."""
    with engine.connect() as connection:
        tenant = _tenant(connection, tenant_id)
    source = _on(engine, cluster_engine, tenant["cluster"])
    # One snapshot for every table: the export is consistent even while the portal is in use.
    with (
        source.connect().execution_options(isolation_level="REPEATABLE READ") as connection,
        connection.begin(),
    ):
        _scope(connection, tenant["schema_name"], tenant["db_role"])
        tables = _snapshot(connection, tenant["schema_name"])
    prefix = files_prefix(tenant_id)
    files = {key[len(prefix) :]: storage.get(key) for key in storage.list(prefix)}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "platform_version": __version__,
        "created_at": _now().isoformat(),
        "tenant": {
            "id": str(tenant_id),
            "slug": tenant["slug"],
            "name": tenant["name"],
            "kind": tenant["kind"],
            "official_code": tenant["official_code"],
            "theme": tenant["theme"],
            "branding": tenant["branding"],
            "domains": tenant["domains"],
        },
        "revision": tenant["revision"],
        "tables": {name: {"rows": rows, "sha256": _sha256(data)} for name, (data, rows) in tables.items()},
        "files": {name: {"bytes": len(data), "sha256": _sha256(data)} for name, data in files.items()},
    }
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        _add(tar, "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        for name, (data, _rows) in tables.items():
            _add(tar, f"data/{name}.csv", data)
        for name, data in files.items():
            _add(tar, f"files/{name}", data)
    stamp = _now().strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{EXPORTS_PREFIX}/{tenant_id}/{stamp}.tar.gz"
    storage.put(key, archive.getvalue(), content_type="application/gzip")
    with source.begin() as connection:
        _scope(connection, tenant["schema_name"], tenant["db_role"])
        connection.execute(
            text(
                "insert into audit_events (id, action, details) "
                "values (:id, 'tenant.exported', jsonb_build_object('archive', cast(:key as text)))"
            ),
            {"id": uuid.uuid4(), "key": key},
        )
    with engine.begin() as connection:
        connection.execute(
            text("update platform.tenants set last_export_key = :k, updated_at = now() where id = :id"),
            {"k": key, "id": tenant_id},
        )
    log.info("tenant_exported", tenant=tenant["slug"], tables=len(tables), files=len(files))
    return ExportResult(key=key, manifest=manifest)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(_now().timestamp())
    tar.addfile(info, io.BytesIO(data))


def read_archive(storage: TenantFiles, key: str) -> tuple[dict[str, Any], dict[str, bytes], dict[str, bytes]]:
    """(manifest, tables, files) of an export, each member checked against the manifest."""
    try:
        blob = storage.get(key)
    except FileNotFoundError:
        raise TenantError(f"Aucune archive à « {key} ».", field="archive") from None
    tables: dict[str, bytes] = {}
    files: dict[str, bytes] = {}
    manifest: dict[str, Any] | None = None
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            data = handle.read() if handle else b""
            if member.name == "manifest.json":
                manifest = json.loads(data)
            elif member.name.startswith("data/") and member.name.endswith(".csv"):
                tables[member.name[5:-4]] = data
            elif member.name.startswith("files/"):
                files[member.name[6:]] = data
    if manifest is None or manifest.get("format") != FORMAT:
        raise TenantError("Ce fichier n'est pas une archive de collectivité Bip Pop.", field="archive")
    for name, expected in manifest["tables"].items():
        if _sha256(tables.get(name, b"")) != expected["sha256"]:
            raise TenantError(
                f"Archive abîmée : la table {name} ne correspond pas au manifeste.", field="archive"
            )
    for name, expected in manifest["files"].items():
        if _sha256(files.get(name, b"")) != expected["sha256"]:
            raise TenantError(
                f"Archive abîmée : le fichier {name} ne correspond pas au manifeste.", field="archive"
            )
    return manifest, tables, files


def load_into(
    engine: Engine,
    storage: TenantFiles,
    tenant_id: uuid.UUID,
    key: str,
    *,
    schema_engine: Engine | None = None,
    with_files: bool = True,
) -> dict[str, Any]:
    """Replace the (freshly provisioned) tenant's data with the archive's, then verify it.
    ``schema_engine`` reaches the cluster that holds the schema (default: the platform's)."""
    manifest, tables, files = read_archive(storage, key)
    with engine.connect() as connection:
        tenant = _tenant(connection, tenant_id)
    with (schema_engine or engine).begin() as connection:
        # An archive made before a module's branch joined the chain records fewer heads; its tables
        # decide (checked below: a module's branch that adds tables makes them differ).
        archived_heads = set(str(manifest["revision"] or "").split("+"))
        if not archived_heads <= set(str(tenant["revision"] or "").split("+")):
            raise TenantError(
                f"L'archive a été faite à la révision {manifest['revision']} et la plateforme est à "
                f"{tenant['revision']} : exportez de nouveau depuis une plateforme à jour.",
                field="archive",
            )
        _scope(connection, tenant["schema_name"])  # as the owner: truncating needs more than DML rights
        present = set(_tables(connection, tenant["schema_name"]))
        if present != set(tables):
            raise TenantError("Les tables de l'archive ne sont pas celles du schéma.", field="archive")
        names = ", ".join(quoted(name) for name in sorted(present))
        connection.execute(text(f"truncate {names}"))
        raw = _driver(connection)
        with raw.cursor() as cursor:
            for name in _load_order(connection, tenant["schema_name"], list(tables)):
                data = tables[name]
                with cursor.copy(f"copy {quoted(name)} from stdin with (format csv, header)") as copy:
                    copy.write(data)
        restored = _snapshot(connection, tenant["schema_name"])
        for name, expected in manifest["tables"].items():
            data, rows = restored[name]
            if rows != expected["rows"] or _sha256(data) != expected["sha256"]:
                raise TenantError(f"Vérification échouée pour la table {name}.", field="archive")
        if manifest["revision"] != tenant["revision"]:
            # The schema is the platform's, at its heads: say so in its own version rows again.
            connection.execute(text("delete from alembic_version"))
            for head in str(tenant["revision"]).split("+"):
                connection.execute(text("insert into alembic_version (version_num) values (:h)"), {"h": head})
    if not with_files:
        return manifest
    prefix = files_prefix(tenant_id)
    for name, data in files.items():
        storage.put(prefix + name, data)
    for name, expected in manifest["files"].items():
        if _sha256(storage.get(prefix + name)) != expected["sha256"]:
            raise TenantError(f"Vérification échouée pour le fichier {name}.", field="archive")
    log.info("tenant_restored", tenant=tenant["slug"], tables=len(tables), files=len(files))
    return manifest


def schedule_deletion(
    engine: Engine,
    tenant_id: uuid.UUID,
    *,
    grace: datetime.timedelta = DEFAULT_GRACE,
    host_cache: HostCache | None = None,
    hosts: list[str] | None = None,
) -> datetime.datetime:
    """Close the portal now and delete everything once ``grace`` has passed; an export is required."""
    with engine.begin() as connection:
        tenant = _tenant(connection, tenant_id)
        if not tenant["last_export_key"]:
            raise TenantError(
                f"Exportez d'abord « {tenant['slug']} » (bippop tenants export) : la suppression est définitive.",
                field="slug",
            )
        due = _now() + grace
        connection.execute(
            text(
                "update platform.tenants set status = 'deleting', delete_after = :d, updated_at = now() "
                "where id = :id"
            ),
            {"d": due, "id": tenant_id},
        )
    _invalidate(host_cache, hosts)
    return due


def purge_due(
    engine: Engine,
    storage: TenantFiles,
    *,
    base_domain: str,
    redis: Any | None,
    cluster_engine: ClusterEngines | None = None,
) -> list[str]:
    """Remove every tenant whose grace period is over; returns their slugs."""
    with engine.connect() as connection:
        due = (
            connection.execute(
                text("select id from platform.tenants where status = 'deleting' and delete_after <= now()")
            )
            .scalars()
            .all()
        )
    return [
        purge(engine, storage, tenant_id, base_domain=base_domain, redis=redis, cluster_engine=cluster_engine)
        for tenant_id in due
    ]


def drop_schema_and_role(engine: Engine, schema: str, role: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"drop schema if exists {quoted(schema)} cascade"))
        connection.execute(text(f"drop role if exists {quoted(role)}"))


def purge(
    engine: Engine,
    storage: TenantFiles,
    tenant_id: uuid.UUID,
    *,
    base_domain: str,
    redis: Any | None,
    cluster_engine: ClusterEngines | None = None,
) -> str:
    """Drop schema and role, delete files, cache entries and the record."""
    with engine.connect() as connection:
        tenant = _tenant(connection, tenant_id)
    if tenant["status"] != "deleting":
        raise TenantError(f"« {tenant['slug']} » n'est pas en cours de suppression.", field="slug")
    drop_schema_and_role(
        _on(engine, cluster_engine, tenant["cluster"]), tenant["schema_name"], tenant["db_role"]
    )
    with engine.begin() as connection:
        connection.execute(text("delete from platform.tenants where id = :id"), {"id": tenant_id})
    storage.delete_prefix(files_prefix(tenant_id))
    if redis is not None:
        hosts = [f"{tenant['slug']}.{base_domain}", *tenant["domains"]]
        redis.delete(*(host_key(h) for h in hosts))
        # Tenant cache keys (bippop:t:<id>:…) and any other key naming the tenant (rate-limit counters).
        for key in redis.scan_iter(match=f"*{tenant_id}*", count=1000):
            redis.delete(key)
    log.info("tenant_purged", tenant=tenant["slug"])
    return str(tenant["slug"])


def _tenant(connection: Connection, tenant_id: uuid.UUID) -> dict[str, Any]:
    row = (
        connection.execute(
            text(
                "select id, slug, name, kind, official_code, status, schema_name, db_role, revision, theme, "
                "branding, last_export_key, cluster from platform.tenants where id = :id"
            ),
            {"id": tenant_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise TenantError(f"Aucune collectivité {tenant_id}.", field="slug")
    domains = (
        connection.execute(
            text("select hostname from platform.domains where tenant_id = :id order by hostname"),
            {"id": tenant_id},
        )
        .scalars()
        .all()
    )
    return {**row, "domains": list(domains)}


def move_tenant(
    engine: Engine,
    storage: TenantFiles,
    tenant_id: uuid.UUID,
    target_cluster: str,
    cluster_engine: ClusterEngines,
    *,
    host_cache: HostCache | None = None,
    hosts: list[str] | None = None,
) -> str:
    """Move a tenant's schema to another cluster: export → restore there → switch → remove the old copy.

    The portal shows "being prepared" (and jobs wait) from the export to the switch; files stay where
    they are, since storage is shared by every cluster. On failure the tenant stays where it was."""
    with engine.begin() as connection:
        tenant = _tenant(connection, tenant_id)
        if tenant["cluster"] == target_cluster:
            raise TenantError(
                f"« {tenant['slug']} » est déjà sur la grappe {target_cluster}.", field="cluster"
            )
        if tenant["status"] != "active":
            raise TenantError(
                f"« {tenant['slug']} » n'est pas actif (état : {tenant['status']}).", field="slug"
            )
        connection.execute(
            text("update platform.tenants set status = 'moving' where id = :id"), {"id": tenant_id}
        )
    _invalidate(host_cache, hosts)
    source = _on(engine, cluster_engine, tenant["cluster"])
    target = _on(engine, cluster_engine, target_cluster)
    schema, role = tenant["schema_name"], tenant["db_role"]
    try:
        export = export_tenant(engine, storage, tenant_id, cluster_engine)
        with target.begin() as connection:
            ensure_role(connection, role)
            ensure_schema(connection, schema, role)
        with target.begin() as connection:
            apply_to_schema(connection, schema)
        load_into(engine, storage, tenant_id, export.key, schema_engine=target, with_files=False)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "update platform.tenants set cluster = :c, status = 'active', updated_at = now() where id = :id"
                ),
                {"c": target_cluster, "id": tenant_id},
            )
    except Exception:
        log.error("tenant_move_failed", tenant=tenant["slug"], target=target_cluster)
        drop_schema_and_role(target, schema, role)
        with engine.begin() as connection:
            connection.execute(
                text("update platform.tenants set status = 'active' where id = :id"), {"id": tenant_id}
            )
        _invalidate(host_cache, hosts)
        raise
    _invalidate(host_cache, hosts)
    drop_schema_and_role(source, schema, role)
    log.info("tenant_moved", tenant=tenant["slug"], source=tenant["cluster"], target=target_cluster)
    return export.key


def _invalidate(host_cache: HostCache | None, hosts: list[str] | None) -> None:
    if host_cache is not None and hosts:
        host_cache.invalidate(hosts)
