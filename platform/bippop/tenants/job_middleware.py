"""The dramatiq middleware that carries the tenant in every message.

At enqueue the current tenant's id is stamped on the message; in the worker the
tenant is loaded again from ``platform`` (never trusted beyond its id) and set
as the current tenant for the actor. A message without a tenant runs in
platform scope only. A suspended or deleted tenant's messages are skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, MiddlewareError, SkipMessage

from bippop.tenants.context import TenantRef, current_tenant, set_current_tenant
from bippop.tenants.resources import platform_resources

log = structlog.get_logger(__name__)

TENANT_OPTION = "bippop_tenant_id"


class CrossTenantMessage(MiddlewareError):
    """Code running for one tenant tried to enqueue a job stamped with another tenant."""


class TenantUnavailable(MiddlewareError):
    """The message's tenant could not be loaded (database down): the job fails and is retried."""


class TenantMiddleware(Middleware):
    Loader = Callable[[uuid.UUID], TenantRef | None]

    def __init__(self, loader: Loader | None = None) -> None:
        self.loader = loader

    @property
    def actor_options(self) -> set[str]:
        return {"platform_scope"}

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int) -> None:
        tenant = current_tenant()
        if tenant is None:
            # Platform code (the scheduler fanning out, say) may address a tenant explicitly.
            return
        explicit = message.options.get(TENANT_OPTION)
        if explicit is not None and explicit != str(tenant.id):
            raise CrossTenantMessage("a tenant's code cannot enqueue a job for another tenant")
        message.options[TENANT_OPTION] = str(tenant.id)

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        raw = message.options.get(TENANT_OPTION)
        set_current_tenant(None)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(job=message.actor_name, message_id=message.message_id)
        if raw is None:
            return
        try:
            tenant_id = uuid.UUID(str(raw))
        except ValueError:
            log.error("job_skipped_malformed_tenant")
            raise SkipMessage() from None
        loader = self.loader or _default_loader()
        try:
            tenant = loader(tenant_id)
        except Exception as exc:
            # Fail closed and let the Retries middleware try again later: never run without the tenant.
            raise TenantUnavailable(f"tenant {tenant_id} could not be loaded: {type(exc).__name__}") from exc
        if tenant is None or tenant.status != "active":
            log.warning("job_skipped_inactive_tenant", tenant_id=raw)
            raise SkipMessage()
        structlog.contextvars.bind_contextvars(tenant=tenant.slug)
        set_current_tenant(tenant)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: Any = None,
    ) -> None:
        set_current_tenant(None)
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.after_process_message(broker, message)


def _default_loader() -> TenantMiddleware.Loader:
    return platform_resources().load_tenant
