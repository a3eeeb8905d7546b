"""The platform's invitation of a tenant's administrator, written and then handed to the workers.

Used by ``operations.create_tenant_with_admin`` and ``operations.invite_tenant_admin`` (the CLI's
``tenants create --admin-email`` and ``tenants invite-admin``).
"""

from __future__ import annotations

import time

from bippop.accounts.services.admin_invitation import AdminInvitation, invite_admin
from bippop.config import Settings
from bippop.tenants.context import TenantRef
from bippop.tenants.errors import TenantError
from bippop.tenants.resources import resources_for

# A tenant provisioned by a worker (``--background``): how long to wait for it before inviting.
PROVISION_WAIT_SECONDS = 120
POLL_SECONDS = 0.5


def send_admin_invitation(settings: Settings, slug: str, email: str) -> AdminInvitation:
    """Write the invitation in the tenant's schema, commit, then enqueue its delivery (the outbox
    sweeper sends it if the broker is down). The tenant must be active."""
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    with resources.admin_sessions()() as session:
        tenant = TenantService(session, base_domain=settings.base_domain).require(slug)
        if tenant.status != "active":
            raise TenantError(
                f"« {slug} » n'est pas prêt (état : {tenant.status}) : l'invitation partira quand il le sera ; "
                f"relancez `bippop tenants invite-admin {slug} {email}` une fois `bippop tenants provision {slug}` fait.",
                field="admin_email",
            )
        ref = tenant.ref()
    with resources.sessions()(info={"tenant": ref}) as session, session.begin():
        invitation = invite_admin(session, ref, email, settings)
    _announce(settings, ref, invitation)
    return invitation


def wait_until_provisioned(settings: Settings, slug: str) -> None:
    """For ``--background``: the worker's provisioning done (or failed: its error is shown)."""
    from bippop.tenants.services import TenantService

    resources = resources_for(settings)
    for _attempt in range(int(PROVISION_WAIT_SECONDS / POLL_SECONDS)):
        with resources.admin_sessions()() as session:
            tenant = TenantService(session, base_domain=settings.base_domain).require(slug)
            status, error = tenant.status, tenant.last_error
        if status == "active":
            return
        if status == "failed":
            raise TenantError(
                f"La préparation de « {slug} » a échoué ({error or 'voir les journaux du worker'}) : "
                f"`bippop tenants provision {slug}` la reprend, puis `bippop tenants invite-admin {slug} …`."
            )
        time.sleep(POLL_SECONDS)
    raise TenantError(
        f"« {slug} » n'est toujours pas prêt : un worker tourne-t-il ? Une fois prêt, "
        f"`bippop tenants invite-admin {slug} …` envoie l'invitation."
    )


def _announce(settings: Settings, ref: TenantRef, invitation: AdminInvitation) -> None:
    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    from bippop.broker import build_broker, configure_broker
    from bippop.outbox.after_commit import announce_sync

    # A command-line process has only the stub broker actors are declared on: use the real one.
    if isinstance(dramatiq.get_broker(), StubBroker):
        configure_broker(build_broker(settings))
    announce_sync(resources_for(settings).redis, ref, [invitation.message_id])
