"""Background work (to be built)."""

from __future__ import annotations

from bippop.jobs import PeriodicJob

PERIODIC_JOBS: tuple[PeriodicJob, ...] = ()
