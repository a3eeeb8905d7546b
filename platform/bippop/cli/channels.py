"""``bippop tenants sso`` and ``bippop tenants sms``: a tenant's sign-in providers, text
messages and voice calls."""

from __future__ import annotations

import os
import sys

import click

from bippop.cli.common import console, err_console, friendly_errors
from bippop.config import get_settings


def require_options(values: dict[str, str | None]) -> None:
    """Exit with status 2 naming every option left out (the command's other way is --disable)."""
    missing = [name for name, value in values.items() if not value]
    if missing:
        err_console.print(f"[red]Il manque[/red] {', '.join(missing)} (ou --disable).")
        sys.exit(2)


def secret_from_environment(variable: str) -> str:
    """The secret in environment variable ``variable``: secrets never go on the command line."""
    secret = os.environ.get(variable, "")
    if not secret:
        err_console.print(f"[red]La variable d'environnement {variable} est vide ou absente.[/red]")
        sys.exit(2)
    return secret


@click.command("sso")
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
    # Over 60 lines with its options: one command, each option explained to a council's IT person.
    from bippop.accounts import oidc
    from bippop.runtime.channels import configure_sign_in, declared_redirect_uri

    label = oidc.PROVIDERS[provider].label
    if disable:
        if configure_sign_in(get_settings(), slug, provider, disable=True):
            console.print(f"Connexion avec {label} désactivée pour « {slug} » (réglages conservés).")
        else:
            console.print(f"{label} n'était pas configuré pour « {slug} » : rien à désactiver.")
        return
    require_options({"--issuer": issuer, "--client-id": client_id, "--client-secret-env": client_secret_env})
    assert issuer and client_id and client_secret_env
    secret = secret_from_environment(client_secret_env)
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
    configure_sign_in(
        get_settings(), slug, provider, issuer=issuer, client_id=client_id, client_secret=secret
    )
    console.print(f"Connexion avec {label} activée pour « {slug} ».")
    console.print(f"Adresse de retour à déclarer : {declared_redirect_uri(get_settings(), slug, provider)}")


@click.command("sms")
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
    # Over 60 lines with its options: one command, each option explained to a council's IT person.
    from bippop.runtime.channels import configure_text_messages

    label = "SMS" if channel == "sms" else "appels vocaux"
    if disable:
        if configure_text_messages(get_settings(), slug, channel=channel, disable=True):
            console.print(f"Fournisseur d'{label} retiré pour « {slug} ».")
        else:
            console.print(f"Aucun fournisseur d'{label} n'était configuré pour « {slug} ».")
        return
    required = {"--provider": provider, "--sender": sender, "--api-key-env": api_key_env}
    require_options(required | ({"--endpoint": endpoint} if provider == "webhook" else {}))
    assert provider and sender and api_key_env
    api_key = secret_from_environment(api_key_env)
    try:
        configure_text_messages(
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
