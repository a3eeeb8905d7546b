"""``bippop tenants``: create, list, inspect, suspend, export, restore, delete and move tenants."""

from __future__ import annotations

import click
from rich.table import Table

from bippop.cli.common import console, friendly_errors
from bippop.config import get_settings


@click.group()
def tenants() -> None:
    """Create, list, inspect and suspend tenants (communes, EPCI, départements)."""


@tenants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Official name, e.g. 'Compiègne'.")
@click.option(
    "--kind", type=click.Choice(["commune", "epci", "departement"]), default="commune", show_default=True
)
@click.option("--code", "official_code", required=True, help="INSEE code (commune), SIREN (EPCI) or number.")
@click.option(
    "--admin-email",
    default=None,
    help="Address of its administrator (required): an invitation is mailed to it.",
)
@click.option("--domain", "domains", multiple=True, help="Custom domain served for this tenant (repeatable).")
@click.option("--background", is_flag=True, help="A worker provisions it; the command waits, then invites.")
@click.option("--cluster", default="main", show_default=True, help="PostgreSQL cluster to place it on.")
@friendly_errors
def tenants_create(
    slug: str,
    name: str,
    kind: str,
    official_code: str,
    admin_email: str | None,
    domains: tuple[str, ...],
    background: bool,
    cluster: str,
) -> None:
    """Create tenant SLUG and invite its administrator; its portal is https://SLUG.<base domain>.

    SLUG: 3 to 40 lower-case letters, digits and dashes, e.g. 'compiegne'. The code must be the
    collectivity's in the official list (INSEE for a commune, SIREN for an EPCI).
    """
    from bippop.runtime.operations import create_tenant_with_admin
    from bippop.tenants.urls import tenant_url

    settings = get_settings()
    tenant, invitation = create_tenant_with_admin(
        settings,
        slug,
        name,
        kind,
        official_code,
        admin_email,
        domains,
        background=background,
        cluster=cluster,
    )
    console.print(f"Collectivité [bold]{tenant.slug}[/bold] créée, état : {tenant.status}.")
    console.print(f"Portail : {tenant_url(tenant.ref(), '', settings)}")
    console.print(
        f"Invitation d'administrateur envoyée à {invitation.email} (valable 7 jours ; "
        f"`bippop tenants invite-admin {tenant.slug} {invitation.email}` en renvoie une)."
    )


@tenants.command("invite-admin")
@click.argument("slug")
@click.argument("email")
@friendly_errors
def tenants_invite_admin(slug: str, email: str) -> None:
    """Mail an administrator's invitation for tenant SLUG to EMAIL (again, when one got lost).

    The previous unused invitation to EMAIL stops working."""
    from bippop.runtime.operations import invite_tenant_admin

    invitation = invite_tenant_admin(get_settings(), slug, email)
    console.print(
        f"Invitation d'administrateur de « {slug} » envoyée à {invitation.email} (valable 7 jours)."
    )


@tenants.command("list")
@friendly_errors
def tenants_list() -> None:
    """List every tenant with its state and schema revision."""
    from bippop.runtime.operations import list_tenants

    rows = list_tenants(get_settings())
    table = Table("slug", "nom", "type", "code", "état", "révision", "grappe")
    for t in rows:
        table.add_row(t.slug, t.name, t.kind, t.official_code, t.status, t.revision or "—", t.cluster)
    console.print(table)
    console.print(f"{len(rows)} collectivité(s).")


@tenants.command("show")
@click.argument("slug")
@friendly_errors
def tenants_show(slug: str) -> None:
    """Show one tenant: state, domains, schema, last error."""
    from bippop.runtime.operations import show_tenant

    settings = get_settings()
    info = show_tenant(settings, slug)
    for key, value in info.items():
        console.print(f"[bold]{key:>14}[/bold]  {value}")


@tenants.command("suspend")
@click.argument("slug")
@friendly_errors
def tenants_suspend(slug: str) -> None:
    """Suspend a tenant: its portal shows a calm notice, its jobs stop; data is kept."""
    from bippop.runtime.operations import change_status

    change_status(get_settings(), slug, "suspend")
    console.print(f"« {slug} » est suspendu. `bippop tenants reactivate {slug}` le rouvre.")


@tenants.command("reactivate")
@click.argument("slug")
@friendly_errors
def tenants_reactivate(slug: str) -> None:
    """Reopen a suspended tenant."""
    from bippop.runtime.operations import change_status

    change_status(get_settings(), slug, "reactivate")
    console.print(f"« {slug} » est de nouveau actif.")


@tenants.command("pool")
@click.option("--refill", is_flag=True, help="Create the missing spares now (a worker does it every minute).")
@friendly_errors
def tenants_pool(refill: bool) -> None:
    """Show the spare schema pool that makes tenant creation instant (BIPPOP_SPARE_POOL_SIZE)."""
    from bippop.runtime.operations import spare_pool

    settings = get_settings()
    ready, created = spare_pool(settings, refill=refill)
    if refill:
        console.print(f"{created} schéma(s) de réserve créé(s).")
    console.print(f"{ready} schéma(s) de réserve prêt(s) sur {settings.spare_pool_size} souhaité(s).")


@tenants.command("export")
@click.argument("slug")
@friendly_errors
def tenants_export(slug: str) -> None:
    """Write one archive of a tenant's data and files to storage (with a manifest of counts and
    checksums). Needed before a deletion; restores with `bippop tenants restore`."""
    from bippop.runtime.operations import export_tenant

    key, manifest = export_tenant(get_settings(), slug)
    rows = sum(t["rows"] for t in manifest["tables"].values())
    console.print(f"Archive écrite : {key}")
    console.print(f"{len(manifest['tables'])} tables, {rows} lignes, {len(manifest['files'])} fichier(s).")


@tenants.command("restore")
@click.argument("archive")
@click.option("--slug", default=None, help="Restore as a new tenant with this slug (default: the archive's).")
@friendly_errors
def tenants_restore(archive: str, slug: str | None) -> None:
    """Create a tenant from an export ARCHIVE (its storage key) and check it against the manifest."""
    from bippop.runtime.operations import restore_tenant

    tenant = restore_tenant(get_settings(), archive, slug=slug)
    console.print(f"« {tenant.slug} » restauré et vérifié ({tenant.status}).")


@tenants.command("delete")
@click.argument("slug")
@click.option("--grace-days", type=int, default=30, show_default=True, help="Days before data is removed.")
@friendly_errors
def tenants_delete(slug: str, grace_days: int) -> None:
    """Close a tenant now and remove all its data after a grace period. Requires an export first.

    During the grace period the portal shows that it has closed; `bippop tenants purge`
    (run hourly by the scheduler) removes what is due."""
    from bippop.runtime.operations import delete_tenant

    due = delete_tenant(get_settings(), slug, grace_days=grace_days)
    console.print(f"« {slug} » est fermé ; ses données seront supprimées après le {due:%d/%m/%Y %H:%M} UTC.")


@tenants.command("purge")
@friendly_errors
def tenants_purge() -> None:
    """Remove the tenants whose deletion grace period is over (schema, role, files, cache)."""
    from bippop.runtime.operations import purge_deleted

    purged = purge_deleted(get_settings())
    console.print(
        f"{len(purged)} collectivité(s) supprimée(s) définitivement"
        + (f" : {', '.join(purged)}." if purged else ".")
    )


@tenants.command("move")
@click.argument("slug")
@click.option("--to", "target", required=True, help="Name of the PostgreSQL cluster (BIPPOP_CLUSTERS).")
@friendly_errors
def tenants_move(slug: str, target: str) -> None:
    """Move a tenant's schema to another PostgreSQL cluster (export, restore, switch, remove).
    Its portal shows "being prepared" for the duration; on failure nothing changes."""
    from bippop.runtime.operations import move_tenant

    key = move_tenant(get_settings(), slug, target)
    console.print(f"« {slug} » est maintenant sur la grappe {target} (archive de sécurité : {key}).")


@tenants.command("provision")
@click.argument("slug")
@friendly_errors
def tenants_provision(slug: str) -> None:
    """Provision (again) a tenant left pending or failed; safe to repeat."""
    from bippop.runtime.operations import reprovision

    status = reprovision(get_settings(), slug)
    console.print(f"« {slug} » : {status}.")
