"""``bippop staff``: the co-operative's staff accounts."""

from __future__ import annotations

import os
import sys

import click
from rich.table import Table

from bippop.cli.common import console, err_console, friendly_errors
from bippop.config import get_settings


@click.group()
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
