"""The ``bippop`` command. Every sub-command has a ``--help`` written for a council's IT person."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from bippop.config import SettingsError, describe_url, get_settings

F = TypeVar("F", bound=Callable[..., Any])
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def friendly_errors(command: F) -> F:
    """Turn the failures a person can act on into one clear message and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        from bippop.tenants.errors import TenantError

        try:
            return command(*args, **kwargs)
        except SettingsError as exc:
            err_console.print(f"[red]Configuration :[/red] {exc}")
            sys.exit(2)
        except TenantError as exc:
            err_console.print(f"[red]Refusé :[/red] {exc}")
            sys.exit(1)
        except OperationalError as exc:
            settings = get_settings()
            where = describe_url(settings.database_url) if settings.database_url else "?"
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            err_console.print(f"[red]PostgreSQL ne répond pas[/red] ({where}) : {reason}")
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bippop")
def main() -> None:
    """Bip Pop: the platform that councils use against the isolation of elderly people.

    Settings come from BIPPOP_* environment variables (see docs/configuration.md).
    With none set, `bippop run` starts everything on this machine.
    """


# Processes ---------------------------------------------------------------------------


@main.command()
@click.option("--port", type=int, default=None, help="Port of the web server (default 8000, or BIPPOP_PORT).")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, or BIPPOP_HOST).")
@friendly_errors
def run(port: int | None, host: str | None) -> None:
    """Start the whole platform on this machine, for development and demonstrations.

    Starts embedded PostgreSQL and Redis when BIPPOP_DATABASE_URL / BIPPOP_REDIS_URL
    are not set (data in var/), applies migrations, seeds the demo commune, then runs
    the web server, one worker and the scheduler. Ctrl-C stops everything.
    """
    from bippop.runtime.supervisor import Supervisor

    settings = get_settings()
    settings = settings.replace(port=port or settings.port, host=host or settings.host)
    sys.exit(Supervisor(settings).run())


@main.command()
@click.option("--port", type=int, default=None, help="Port (default BIPPOP_PORT or 8000).")
@click.option("--host", default=None, help="Address (default BIPPOP_HOST or 127.0.0.1).")
def web(port: int | None, host: str | None) -> None:
    """Run the web server alone (production: several of these behind a load balancer)."""
    from bippop.runtime.web import serve

    serve(get_settings(), host=host, port=port)


@main.command()
@click.option(
    "--processes", type=int, default=None, help="Worker processes (default BIPPOP_WORKER_PROCESSES)."
)
@click.option(
    "--threads", type=int, default=None, help="Threads per process (default BIPPOP_WORKER_THREADS)."
)
def worker(processes: int | None, threads: int | None) -> None:
    """Run a background-job worker (dramatiq): provisioning, notifications, exports…"""
    settings = get_settings()
    args = [
        sys.executable,
        "-m",
        "dramatiq",
        "bippop.worker",
        "--processes",
        str(processes or settings.worker_processes),
        "--threads",
        str(threads or settings.worker_threads),
    ]
    os.execv(sys.executable, args)  # noqa: S606 (replaces this process with the dramatiq worker)


@main.command()
@friendly_errors
def scheduler() -> None:
    """Run the scheduler that enqueues periodic jobs. Run exactly one per platform."""
    from bippop.observability import configure_logging
    from bippop.scheduler import build_scheduler

    settings = get_settings()
    configure_logging(settings)
    scheduler = build_scheduler(settings)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


# Migrations --------------------------------------------------------------------------


@main.command()
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Tenants migrated at once (default BIPPOP_MIGRATE_CONCURRENCY).",
)
@friendly_errors
def migrate(concurrency: int | None) -> None:
    """Bring the database up to date: the platform schema, then every tenant's schema.

    Each tenant is migrated in its own transaction; one failing tenant does not stop
    the others. The run ends with a summary naming each failure, and exits with
    status 1 if any. Interrupted runs can simply be started again.
    """
    from bippop.runtime.operations import migrate_everything

    settings = get_settings()
    report = migrate_everything(settings, concurrency=concurrency, progress=True)
    sys.exit(0 if report.ok else 1)


# Tenants -----------------------------------------------------------------------------


@main.group()
def tenants() -> None:
    """Create, list, inspect and suspend tenants (communes, EPCI, départements)."""


@tenants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Official name, e.g. 'Compiègne'.")
@click.option(
    "--kind", type=click.Choice(["commune", "epci", "departement"]), default="commune", show_default=True
)
@click.option("--code", "official_code", required=True, help="INSEE code (commune), SIREN (EPCI) or number.")
@click.option("--domain", "domains", multiple=True, help="Custom domain served for this tenant (repeatable).")
@click.option("--background", is_flag=True, help="Only record it; a worker provisions it.")
@click.option("--cluster", default="main", show_default=True, help="PostgreSQL cluster to place it on.")
@friendly_errors
def tenants_create(
    slug: str,
    name: str,
    kind: str,
    official_code: str,
    domains: tuple[str, ...],
    background: bool,
    cluster: str,
) -> None:
    """Create tenant SLUG; its portal is https://SLUG.<base domain>.

    SLUG: 3 to 40 lower-case letters, digits and dashes, e.g. 'compiegne'.
    """
    from bippop.runtime.operations import create_tenant
    from bippop.tenants.urls import tenant_url

    settings = get_settings()
    tenant = create_tenant(
        settings, slug, name, kind, official_code, domains, background=background, cluster=cluster
    )
    console.print(f"Collectivité [bold]{tenant.slug}[/bold] créée, état : {tenant.status}.")
    console.print(f"Portail : {tenant_url(tenant.ref(), '', settings)}")


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


@tenants.command("sso")
@click.argument("slug")
@click.argument("provider", type=click.Choice(["franceconnect", "proconnect"]))
@click.option("--issuer", default=None, help="Issuer URL given by the provider, e.g. https://…/api/v2.")
@click.option("--client-id", default=None, help="Client id of this tenant's service at the provider.")
@click.option(
    "--client-secret-env",
    default=None,
    metavar="VARNAME",
    help="Name of the environment variable holding the client secret (never on the command line).",
)
@click.option(
    "--disable", is_flag=True, help="Turn the provider off for this tenant (its settings are kept)."
)
@click.option("--no-check", is_flag=True, help="Do not fetch the provider's discovery document first.")
@friendly_errors
def tenants_sso(
    slug: str,
    provider: str,
    issuer: str | None,
    client_id: str | None,
    client_secret_env: str | None,
    disable: bool,
    no_check: bool,
) -> None:
    """Turn sign-in with FranceConnect (residents) or ProConnect (agents) on or off for tenant SLUG.

    Declare the portal's return address at the provider first:
    https://<tenant host>/connexion/<provider>/retour (see docs/sso.md). The client secret is
    read from the variable named by --client-secret-env and stored encrypted.
    """
    from bippop.accounts import oidc

    label = oidc.PROVIDERS[provider].label
    if disable:
        if oidc.configure_tenant(get_settings(), slug, provider, disable=True):
            console.print(f"Connexion avec {label} désactivée pour « {slug} » (réglages conservés).")
        else:
            console.print(f"{label} n'était pas configuré pour « {slug} » : rien à désactiver.")
        return
    missing = [
        name
        for name, value in (
            ("--issuer", issuer),
            ("--client-id", client_id),
            ("--client-secret-env", client_secret_env),
        )
        if not value
    ]
    if missing:
        err_console.print(f"[red]Il manque[/red] {', '.join(missing)} (ou --disable).")
        sys.exit(2)
    assert issuer and client_id and client_secret_env
    secret = os.environ.get(client_secret_env, "")
    if not secret:
        err_console.print(f"[red]La variable d'environnement {client_secret_env} est vide ou absente.[/red]")
        sys.exit(2)
    try:
        issuer = oidc.check_issuer(issuer)
        if not no_check:
            oidc.check_provider(issuer)
    except ValueError as exc:
        err_console.print(f"[red]Émetteur refusé :[/red] {exc}")
        sys.exit(2)
    except oidc.SsoError as exc:
        err_console.print(
            f"[red]{label} ne répond pas comme prévu[/red] ({exc.reason}) à {issuer}/.well-known/openid-configuration."
            " Vérifiez l'adresse de l'émetteur, ou relancez avec --no-check."
        )
        sys.exit(1)
    oidc.configure_tenant(
        get_settings(), slug, provider, issuer=issuer, client_id=client_id, client_secret=secret
    )
    console.print(f"Connexion avec {label} activée pour « {slug} ».")
    console.print(
        f"Adresse de retour à déclarer : {oidc.declared_redirect_uri(get_settings(), slug, provider)}"
    )


# Co-op staff -------------------------------------------------------------------------


@main.group()
def staff() -> None:
    """Accounts of the co-operative's staff, who sign in on the console (https://coop.<base domain>)."""


@staff.command("create")
@click.option("--email", required=True, help="Their e-mail address, used to sign in.")
@click.option("--name", required=True, help="Their name, as colleagues know it.")
@click.option(
    "--role",
    type=click.Choice(["coop_operator", "coop_admin"]),
    required=True,
    help="coop_operator (runs the platform) or coop_admin (also manages staff).",
)
@click.option(
    "--password-env",
    metavar="VAR",
    default=None,
    help="Read the password from environment variable VAR instead of asking for it (for scripts).",
)
@friendly_errors
def staff_create(email: str, name: str, role: str, password_env: str | None) -> None:
    """Create a staff account. The password is asked twice, hidden (or read from --password-env).

    At the first sign-in the console requires setting up an authenticator app (second factor)."""
    from bippop.coop.auth import StaffError, create_staff
    from bippop.runtime.operations import resources_for
    from bippop.tenants.urls import coop_url

    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            err_console.print(f"[red]Refusé :[/red] la variable {password_env} est vide ou absente.")
            sys.exit(2)
    else:
        password = click.prompt("Mot de passe", hide_input=True, confirmation_prompt="Encore une fois")
    settings = get_settings()
    try:
        with resources_for(settings).admin_sessions()() as session, session.begin():
            created = create_staff(session, email=email, name=name, role=role, password=password)
            email = created.email
    except StaffError as exc:
        err_console.print(f"[red]Refusé :[/red] {exc}")
        sys.exit(1)
    console.print(f"Compte [bold]{email}[/bold] créé ({role}).")
    console.print(f"Connexion : {coop_url('/connexion', settings)} (double authentification requise).")


@staff.command("list")
@friendly_errors
def staff_list() -> None:
    """List staff accounts: roles, second factor, state."""
    from bippop.coop.auth import all_staff
    from bippop.runtime.operations import resources_for

    with resources_for(get_settings()).admin_sessions()() as session:
        rows = all_staff(session)
        table = Table("nom")
        table.add_column("rôles", overflow="fold")
        table.add_column("2e facteur")
        table.add_column("état")
        table.add_column("courriel", no_wrap=True)  # whole, to copy into `bippop staff disable`
        for member in rows:
            table.add_row(
                member.display_name,
                ", ".join(member.roles),
                "oui" if member.totp_confirmed_at else "non",
                "désactivé" if member.disabled_at else "actif",
                member.email,
            )
    console.print(table)
    console.print(f"{len(rows)} membre(s) de l'équipe.")


@staff.command("disable")
@click.option("--email", required=True, help="E-mail address of the account.")
@friendly_errors
def staff_disable(email: str) -> None:
    """Disable a staff account: no more sign-in, and its open sessions end now."""
    import asyncio

    from bippop.coop.auth import StaffError, disable_staff, end_staff_sessions
    from bippop.runtime.operations import resources_for

    settings = get_settings()
    try:
        with resources_for(settings).admin_sessions()() as session, session.begin():
            member = disable_staff(session, email)
            staff_id, email = member.id, member.email
    except StaffError as exc:
        err_console.print(f"[red]Refusé :[/red] {exc}")
        sys.exit(1)
    console.print(f"Compte [bold]{email}[/bold] désactivé.")
    if settings.redis_url:
        ended = asyncio.run(end_staff_sessions(settings.redis_url, staff_id))
        console.print(f"{ended} session(s) ouverte(s) fermée(s).")
    else:
        console.print(
            "Sans BIPPOP_REDIS_URL, ses sessions ouvertes s'arrêtent à leur expiration (8 h au plus)."
        )


# Text messages and voice calls ---------------------------------------------------------------


@tenants.command("sms")
@click.argument("slug")
@click.option(
    "--provider",
    type=click.Choice(["brevo", "webhook"]),
    default=None,
    help="brevo (Brevo transactional SMS) or webhook (any JSON endpoint; SMS or voice).",
)
@click.option(
    "--channel",
    type=click.Choice(["sms", "voice"]),
    default="sms",
    show_default=True,
    help="What this provider delivers: text messages, or calls reading a text aloud.",
)
@click.option("--sender", default=None, help="Sender shown on phones, e.g. MAIRIE (Brevo: 3 to 11 letters).")
@click.option(
    "--endpoint",
    default=None,
    help="Provider URL (https://). Brevo: defaults to its transactional SMS API; required for webhook.",
)
@click.option("--account", default=None, help="Account or service name at the provider, if it asks for one.")
@click.option(
    "--api-key-env",
    default=None,
    metavar="VAR",
    help="Name of the environment variable holding the API key (never on the command line).",
)
@click.option("--disable", is_flag=True, help="Remove this tenant's provider for the channel.")
@friendly_errors
def tenants_sms(
    slug: str,
    provider: str | None,
    channel: str,
    sender: str | None,
    endpoint: str | None,
    account: str | None,
    api_key_env: str | None,
    disable: bool,
) -> None:
    """Choose how tenant SLUG sends text messages (or, with --channel voice, voice calls).

    Without a provider, development and test machines keep texts in the outbox (page
    /dev/courriels) and production tells a coordinator to phone the person instead. The API key is
    read from the variable named by --api-key-env and stored encrypted.
    """
    from bippop.notifications import providers

    label = "SMS" if channel == "sms" else "appels vocaux"
    if disable:
        if providers.configure_tenant(get_settings(), slug, channel=channel, disable=True):
            console.print(f"Fournisseur d'{label} retiré pour « {slug} ».")
        else:
            console.print(f"Aucun fournisseur d'{label} n'était configuré pour « {slug} ».")
        return
    missing = [
        name
        for name, value in (("--provider", provider), ("--sender", sender), ("--api-key-env", api_key_env))
        if not value
    ]
    if provider == "webhook" and not endpoint:
        missing.append("--endpoint")
    if missing:
        err_console.print(f"[red]Il manque[/red] {', '.join(missing)} (ou --disable).")
        sys.exit(2)
    assert provider and sender and api_key_env
    api_key = os.environ.get(api_key_env, "")
    if not api_key:
        err_console.print(f"[red]La variable d'environnement {api_key_env} est vide ou absente.[/red]")
        sys.exit(2)
    try:
        providers.configure_tenant(
            get_settings(),
            slug,
            channel=channel,
            provider=provider,
            api_key=api_key,
            sender=sender,
            endpoint=endpoint,
            account=account,
        )
    except ValueError as exc:
        err_console.print(f"[red]Refusé :[/red] {exc}")
        sys.exit(2)
    console.print(
        f"{label.capitalize() if channel == 'voice' else label} de « {slug} » envoyés par {provider}."
    )
