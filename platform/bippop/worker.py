"""Entry module of the dramatiq worker (`bippop worker` runs ``dramatiq bippop.worker``).

Builds the broker from settings and imports every module that declares actors.
"""

from __future__ import annotations

from bippop.broker import build_broker, configure_broker
from bippop.config import get_settings
from bippop.observability import configure_logging

JOB_MODULES = ("bippop.tenants.jobs", "bippop.notifications.jobs")


def load_jobs() -> None:
    import importlib

    for module in JOB_MODULES:
        importlib.import_module(module)


_settings = get_settings()
configure_logging(_settings)
load_jobs()
broker = configure_broker(build_broker(_settings))
