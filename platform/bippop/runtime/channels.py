"""What ``bippop tenants sso`` and ``bippop tenants sms`` do to one tenant's settings, as plain functions
(``cli/channels.py`` parses the options; accounts and notifications keep the configuration rules)."""

from __future__ import annotations

from bippop.accounts import oidc
from bippop.config import Settings
from bippop.notifications import providers
from bippop.tenants.resources import resources_for
from bippop.tenants.services import TenantService


def configure_text_messages(
    settings: Settings,
    slug: str,
    *,
    channel: str,
    provider: str | None = None,
    api_key: str | None = None,
    sender: str | None = None,
    endpoint: str | None = None,
    account: str | None = None,
    disable: bool = False,
) -> bool:
    """What ``bippop tenants sms`` does. Returns False when asked to remove a provider never set."""
    resources = resources_for(settings)
    with resources.admin_sessions()() as session:
        ref = TenantService(session, base_domain=settings.base_domain).require(slug).ref()
    with resources.tenant_session(ref) as session, session.begin():
        if disable:
            return providers.remove_config(session, channel)
        if not (provider and api_key and sender):
            raise ValueError("fournisseur, expéditeur et clé d'API sont nécessaires")
        providers.write_config(
            session,
            channel=channel,
            provider=provider,
            api_key=api_key,
            secret_key=settings.effective_secret_key(),
            sender=sender,
            endpoint=endpoint,
            account=account,
        )
    return True


def configure_sign_in(
    settings: Settings,
    slug: str,
    provider_slug: str,
    *,
    issuer: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    disable: bool = False,
) -> bool:
    """What ``bippop tenants sso`` does: enable (or ``disable``) a provider for tenant ``slug``.
    Returns False when asked to disable a provider that was never configured."""
    provider = oidc.PROVIDERS[provider_slug]
    resources = resources_for(settings)
    with resources.admin_sessions()() as session:
        ref = TenantService(session, base_domain=settings.base_domain).require(slug).ref()
    with resources.tenant_session(ref) as session, session.begin():
        if disable:
            return oidc.disable_config(session, provider)
        if not (issuer and client_id and client_secret):
            raise ValueError("issuer, client id and client secret are all needed")
        oidc.write_config(
            session,
            provider,
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            secret_key=settings.effective_secret_key(),
        )
    return True


def declared_redirect_uri(settings: Settings, slug: str, provider_slug: str) -> str:
    """The return address tenant ``slug`` declares at the provider (what ``bippop tenants sso`` prints)."""
    with resources_for(settings).admin_sessions()() as session:
        ref = TenantService(session, base_domain=settings.base_domain).require(slug).ref()
    return oidc.redirect_uri(ref, provider_slug, settings)
