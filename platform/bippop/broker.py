"""The dramatiq broker: RabbitMQ for ``amqp://``, Redis (embedded or not) otherwise.

Actors are declared at import against a stub broker; ``configure_broker`` builds
the real one from settings and moves every declared actor onto it. This keeps
imports free of network connections and lets tests pick their broker.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

import bippop.jobs  # noqa: F401  (sets the stub broker that actors are declared against)
from bippop.config import Settings, SettingsError
from bippop.tenants.job_middleware import TenantMiddleware

_lock = threading.Lock()


def build_broker(
    settings: Settings, *, tenant_loader: TenantMiddleware.Loader | None = None
) -> dramatiq.Broker:
    url = settings.effective_broker_url
    if not url:
        raise SettingsError(
            "Aucun broker : définissez BIPPOP_BROKER_URL ou BIPPOP_REDIS_URL (ou lancez `bippop run`)."
        )
    middleware = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=5, min_backoff=1000, max_backoff=60_000),
        TenantMiddleware(tenant_loader),
    ]
    broker: dramatiq.Broker
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)
    else:
        from dramatiq.brokers.redis import RedisBroker

        # A worker that dies without acking: after the heartbeat timeout, the periodic maintenance of any
        # other worker (1 % of its commands, instead of dramatiq's 0.1 %) puts its messages back in the queue.
        broker = RedisBroker(
            url=url,
            middleware=middleware,
            heartbeat_timeout=settings.job_heartbeat_seconds * 1000,
            maintenance_chance=10_000,
            namespace="bippop",
        )
    return broker


def configure_broker(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Make ``broker`` the global one and move every actor declared so far onto it."""
    with _lock:
        previous = dramatiq.get_broker()
        for name in previous.get_declared_actors():
            actor = previous.get_actor(name)
            actor.broker = broker
            broker.declare_actor(actor)
        dramatiq.set_broker(broker)
    return broker


def enqueue_by_name(queue_name: str, actor_name: str, *args: Any) -> dramatiq.Message[Any]:
    """Enqueue a job of an actor that a higher layer declares (this process may not have imported it):
    the message is built by name, and goes through the broker's middleware like ``actor.send``."""
    broker = dramatiq.get_broker()
    if queue_name not in broker.get_declared_queues():
        broker.declare_queue(queue_name)
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    return broker.enqueue(message)
