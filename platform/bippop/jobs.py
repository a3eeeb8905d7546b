"""What a domain declares about its background work: its dramatiq actors, and a ``PERIODIC_JOBS`` list of
``PeriodicJob`` saying when the scheduler enqueues which of them.

Each domain keeps that list in its own ``jobs.py`` (``tenants``, ``notifications``, ``aid``), beside the
actors; the scheduler collects them (``bippop.scheduler``). This module sits at the bottom: it knows
dramatiq and nothing of the domains.

Importing it sets a stub broker as dramatiq's global one, so that every module declaring actors (the
tenancy core included, below ``bippop.broker``) declares them without a connection; ``bippop.broker``
builds the real broker and moves them onto it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

# Actors are declared against this stub until ``bippop.broker.configure_broker`` moves them.
DECLARING_BROKER = StubBroker()
DECLARING_BROKER.emit_after("process_boot")
dramatiq.set_broker(DECLARING_BROKER)


@dataclasses.dataclass(frozen=True)
class PeriodicJob:
    """Enqueue ``actor`` (with ``message`` as its keyword arguments) every ``every`` (APScheduler interval
    fields: ``{"minutes": 1}``) or on ``cron`` (APScheduler cron fields, Paris time: ``{"hour": 17,
    "minute": 0}``). The scheduler coalesces missed runs and keeps one instance of each."""

    actor: dramatiq.Actor[..., Any]
    every: Mapping[str, int] | None = None
    cron: Mapping[str, int | str] | None = None
    id: str | None = None  # defaults to the actor's name; needed when one actor has two timetables
    message: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    misfire_grace_time: int | None = None  # seconds a late run may still start; None: APScheduler's own

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError(f"{self.job_id}: give exactly one of every= or cron=")

    @property
    def job_id(self) -> str:
        return self.id or self.actor.actor_name

    @property
    def trigger(self) -> str:
        return "interval" if self.every is not None else "cron"

    @property
    def trigger_fields(self) -> Mapping[str, Any]:
        return self.every if self.every is not None else (self.cron or {})


def collect(declarations: Iterable[Iterable[PeriodicJob]]) -> list[PeriodicJob]:
    """Every declared periodic job, in order; two with one id is a mistake (the second would replace the
    first in the scheduler without a word)."""
    jobs: list[PeriodicJob] = []
    seen: set[str] = set()
    for declared in declarations:
        for job in declared:
            if job.job_id in seen:
                raise ValueError(f"two periodic jobs have the id {job.job_id!r}")
            seen.add(job.job_id)
            jobs.append(job)
    return jobs
