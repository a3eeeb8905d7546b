"""What the CLI does, as plain functions the co-op console and tests can call too.

The registry and provisioning are imported inside the functions that need them,
so that `bippop migrate` does not pay for importing the ORM models' stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import text

from bippop.config import MAIN_CLUSTER, Settings
from bippop.db import chains
from bippop.tenants.errors import TenantError
from bippop.tenants.migrator import MigrationReport, migrate_all
from bippop.tenants.resources import resources_for

if TYPE_CHECKING:
    from bippop.accounts.services.admin_invitation import AdminInvitation
    from bippop.tenants.models import Tenant

console = Console(stderr=True, highlight=False)


def migrate_platform(settings: Settings) -> None:
    from bippop.tenants.ddl import grant_app_access

    engine = resources_for(settings).admin_engine
    with engine.begin() as connection:
        # One migrator at a time for the platform chain.
        connection.execute(text("select pg_advisory_xact_lock(25200, 1)"))
        chains.upgrade_platform(connection)
        grant_app_access(connection, app_login_role(settings))
    # Other clusters hold tenant schemas only: their app role needs just the group membership.
    resources = resources_for(settings)
    for cluster in settings.cluster_urls():
        if cluster != MAIN_CLUSTER:
            with resources.admin_engine_for(cluster).begin() as connection:
                grant_app_access(connection, app_login_role(settings, cluster), platform=False)


def app_login_role(settings: Settings, cluster: str = "main") -> str:
    from sqlalchemy.engine import make_url

    from bippop.db.engine import require_database_url

    return make_url(require_database_url(settings, cluster=cluster)).username or ""


def migrate_everything(
    settings: Settings, *, concurrency: int | None = None, progress: bool = False
) -> MigrationReport:
    migrate_platform(settings)
    engine = resources_for(settings).admin_engine
    workers = concurrency or settings.migrate_concurrency
    clusters = resources_for(settings).admin_engine_for
    if not progress:
        return migrate_all(engine, concurrency=workers, cluster_engine=clusters)
    bar = Progress(
        TextColumn("Migration des collectivités"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("reste"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task("tenants", total=None)

    def start(total: int) -> None:
        # Nothing behind: no bar at all, just the one-line summary.
        if total:
            bar.update(task, total=total)
            bar.start()

    try:
        report = migrate_all(
            engine,
            concurrency=workers,
            cluster_engine=clusters,
            on_start=start,
            on_done=lambda _row, _error: bar.advance(task),
        )
    finally:
        bar.stop()
    _print_report(report)
    return report


def _print_report(report: MigrationReport) -> None:
    if not report.migrated and not report.failed:
        console.print(f"Rien à faire : toutes les collectivités sont à la révision {report.head}.")
        return
    console.print(
        f"{len(report.migrated)} collectivité(s) migrée(s) vers {report.head} en {report.seconds:.1f} s, "
        f"{len(report.failed)} en échec."
    )
    for slug, error in sorted(report.failed.items()):
        console.print(f"  [red]✗ {slug}[/red] : {error}")
    if report.failed:
        console.print(
            "Corrigez la cause puis relancez `bippop migrate` : seules les collectivités en retard sont reprises."
        )


def create_tenant(
    settings: Settings,
    slug: str,
    name: str,
    kind: str,
    official_code: str,
    domains: Iterable[str] = (),
    *,
    background: bool = False,
    branding: dict[str, Any] | None = None,
    cluster: str = MAIN_CLUSTER,
    check_official: bool = True,
) -> Tenant:
    from bippop.tenants.models import Tenant
    from bippop.tenants.provisioning import provision
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions().begin() as session:
        service = TenantService(session, base_domain=settings.base_domain, host_cache=resources.host_cache)
        tenant = service.register(
            slug=slug,
            name=name,
            kind=kind,
            official_code=official_code,
            domains=domains,
            branding=branding,
            cluster=cluster,
            known_clusters=settings.cluster_urls().keys(),
            check_official=check_official,
        )
        tenant_id = tenant.id
    if background:
        from bippop.broker import build_broker, configure_broker
        from bippop.tenants.jobs import provision_tenant

        configure_broker(build_broker(settings))
        provision_tenant.send(str(tenant_id))
    else:
        provision(
            resources.admin_engine,
            tenant_id,
            base_domain=settings.base_domain,
            host_cache=resources.host_cache,
            cluster_engine=resources.admin_engine_for,
        )
    with resources.admin_sessions()() as session:
        result = session.get(Tenant, tenant_id)
        assert result is not None
        return result


def create_tenant_with_admin(
    settings: Settings,
    slug: str,
    name: str,
    kind: str,
    official_code: str,
    admin_email: str | None,
    domains: Iterable[str] = (),
    *,
    background: bool = False,
    cluster: str = MAIN_CLUSTER,
) -> tuple[Tenant, AdminInvitation]:
    """``create_tenant`` plus the invitation of its administrator (refused without one: nobody could
    ever manage the tenant). The address is checked before anything is created."""
    from bippop.accounts.services.admin_invitation import check_admin_email
    from bippop.runtime.invitations import send_admin_invitation, wait_until_provisioned

    email = check_admin_email(admin_email)
    tenant = create_tenant(
        settings, slug, name, kind, official_code, domains, background=background, cluster=cluster
    )
    if background:
        wait_until_provisioned(settings, tenant.slug)
    return tenant, send_admin_invitation(settings, tenant.slug, email)


def invite_tenant_admin(settings: Settings, slug: str, email: str) -> AdminInvitation:
    """Another administrator's invitation for an existing tenant (also: resend a lost one)."""
    from bippop.runtime.invitations import send_admin_invitation

    return send_admin_invitation(settings, slug, email)


def list_tenants(settings: Settings) -> list[Tenant]:
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions()() as session:
        return list(TenantService(session, base_domain=settings.base_domain).all())


def show_tenant(settings: Settings, slug: str) -> dict[str, Any]:
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions()() as session:
        service = TenantService(session, base_domain=settings.base_domain)
        tenant = service.require(slug)
        return {
            "slug": tenant.slug,
            "nom": tenant.name,
            "type": tenant.kind,
            "code officiel": tenant.official_code,
            "état": tenant.status,
            "adresses": ", ".join(service.hosts_of(tenant)),
            "schéma": tenant.schema_name,
            "révision": tenant.revision or "—",
            "créé le": tenant.created_at.isoformat(timespec="seconds"),
            "dernière erreur": tenant.last_error or "—",
        }


def change_status(settings: Settings, slug: str, action: str) -> None:
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions().begin() as session:
        service = TenantService(session, base_domain=settings.base_domain, host_cache=resources.host_cache)
        tenant = service.require(slug)
        if action == "suspend":
            service.suspend(tenant)
        else:
            service.reactivate(tenant)


def spare_pool(settings: Settings, *, refill: bool = False) -> tuple[int, int]:
    """(spares ready at head, spares created now)."""
    from bippop.tenants import pool

    engine = resources_for(settings).admin_engine
    created = pool.refill(engine, settings.spare_pool_size) if refill else 0
    with engine.connect() as connection:
        return pool.spares_at_head(connection), created


def export_tenant(settings: Settings, slug: str) -> tuple[str, dict[str, Any]]:
    from bippop.storage import storage_from_settings
    from bippop.tenants import lifecycle
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions()() as session:
        tenant_id = TenantService(session, base_domain=settings.base_domain).require(slug).id
    result = lifecycle.export_tenant(
        resources.admin_engine, storage_from_settings(settings), tenant_id, resources.admin_engine_for
    )
    return result.key, result.manifest


def restore_tenant(settings: Settings, key: str, *, slug: str | None = None) -> Tenant:
    """A new tenant (the archive's slug, or ``slug``) holding the archive's data, verified."""
    from bippop.storage import storage_from_settings
    from bippop.tenants import lifecycle
    from bippop.tenants.models import Tenant
    from bippop.web.tenant_settings import forget_sync as forget_tenant_settings

    storage = storage_from_settings(settings)
    manifest, _tables, _files = lifecycle.read_archive(storage, key)
    origin = manifest["tenant"]
    target = slug or origin["slug"]
    tenant = create_tenant(
        settings,
        target,
        origin["name"],
        origin["kind"],
        origin["official_code"],
        origin["domains"] if target == origin["slug"] else (),
        branding=origin["branding"],
        # A restored copy may sit beside its original (or an older list may lack its code): it keeps it.
        check_official=False,
    )
    resources = resources_for(settings)
    lifecycle.load_into(
        resources.admin_engine,
        storage,
        tenant.id,
        key,
        schema_engine=resources.admin_engine_for(tenant.cluster),
    )
    with resources.admin_sessions()() as session:
        restored = session.get(Tenant, tenant.id)
        assert restored is not None
    if resources.redis is not None:
        # Its settings came from the archive: a page seen since its creation cached the defaults.
        forget_tenant_settings(resources.redis, restored.ref())
    return restored


def _id_and_hosts(settings: Settings, slug: str) -> tuple[Any, list[str]]:
    """A tenant's id and every host name it answers on (to drop from the host cache)."""
    from bippop.tenants.services import TenantService

    with resources_for(settings).admin_sessions()() as session:
        service = TenantService(session, base_domain=settings.base_domain)
        tenant = service.require(slug)
        return tenant.id, service.hosts_of(tenant)


def delete_tenant(settings: Settings, slug: str, *, grace_days: int) -> Any:
    import datetime

    from bippop.tenants import lifecycle

    resources = resources_for(settings)
    tenant_id, hosts = _id_and_hosts(settings, slug)
    return lifecycle.schedule_deletion(
        resources.admin_engine,
        tenant_id,
        grace=datetime.timedelta(days=grace_days),
        host_cache=resources.host_cache,
        hosts=hosts,
    )


def purge_deleted(settings: Settings) -> list[str]:
    """What `bippop tenants purge` and the hourly job run: ``purge_due`` with the process's resources
    (the tenancy core is handed the file storage, which sits above it)."""
    from bippop.storage import storage_from_settings
    from bippop.tenants import lifecycle

    resources = resources_for(settings)
    return lifecycle.purge_due(
        resources.admin_engine,
        storage_from_settings(resources.settings),
        base_domain=resources.settings.base_domain,
        redis=resources.redis,
        cluster_engine=resources.admin_engine_for,
    )


def move_tenant(settings: Settings, slug: str, target: str) -> str:
    from bippop.storage import storage_from_settings
    from bippop.tenants import lifecycle

    if target not in settings.cluster_urls():
        raise TenantError(f"Grappe PostgreSQL « {target} » inconnue (BIPPOP_CLUSTERS).", field="cluster")
    resources = resources_for(settings)
    tenant_id, hosts = _id_and_hosts(settings, slug)
    return lifecycle.move_tenant(
        resources.admin_engine,
        storage_from_settings(settings),
        tenant_id,
        target,
        resources.admin_engine_for,
        host_cache=resources.host_cache,
        hosts=hosts,
    )


def reprovision(settings: Settings, slug: str) -> str:
    from bippop.tenants.provisioning import provision
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions()() as session:
        tenant = TenantService(session, base_domain=settings.base_domain).require(slug)
        tenant_id = tenant.id
    return provision(
        resources.admin_engine,
        tenant_id,
        base_domain=settings.base_domain,
        host_cache=resources.host_cache,
        cluster_engine=resources.admin_engine_for,
    )
