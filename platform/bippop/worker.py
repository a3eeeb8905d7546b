"""Entry module of the dramatiq worker (`bippop worker` runs ``dramatiq bippop.worker``).

Builds the broker from settings and imports every module that declares actors.
"""

from __future__ import annotations

from bippop.broker import build_broker, configure_broker
from bippop.config import get_settings
from bippop.modules.assembly import prepare as prepare_modules
from bippop.observability import configure_logging
from bippop.scheduler import load_job_modules


def load_jobs() -> None:
    prepare_modules()
    load_job_modules()  # the scheduler's registry (domains' and modules'): every job it enqueues has its actor here


_settings = get_settings()
configure_logging(_settings)
load_jobs()
broker = configure_broker(build_broker(_settings))
