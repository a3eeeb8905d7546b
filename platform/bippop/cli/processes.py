"""The platform's processes: ``run`` (everything, for development), ``web``, ``worker``,
``scheduler``, and ``migrate``."""

from __future__ import annotations

import contextlib
import os
import sys

import click

from bippop.cli.common import friendly_errors
from bippop.config import get_settings

# Processes ---------------------------------------------------------------------------


@click.command()
@click.option("--port", type=int, default=None, help="Port of the web server (default 8000, or BIPPOP_PORT).")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, or BIPPOP_HOST).")
@friendly_errors
def run(port: int | None, host: str | None) -> None:
    """Start the whole platform on this machine, for development and demonstrations.

    Starts embedded PostgreSQL and Redis when BIPPOP_DATABASE_URL / BIPPOP_REDIS_URL
    are not set (data in var/), applies migrations, seeds the demo commune, then runs
    the web server, one worker and the scheduler. Ctrl-C stops everything.
    """
    from bippop.runtime.supervisor import Supervisor

    settings = get_settings()
    settings = settings.replace(port=port or settings.port, host=host or settings.host)
    sys.exit(Supervisor(settings).run())


@click.command()
@click.option("--port", type=int, default=None, help="Port (default BIPPOP_PORT or 8000).")
@click.option("--host", default=None, help="Address (default BIPPOP_HOST or 127.0.0.1).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes sharing the port (default BIPPOP_WEB_WORKERS or 1): about one per CPU core.",
)
def web(port: int | None, host: str | None, workers: int | None) -> None:
    """Run the web server alone (production: several of these behind a load balancer)."""
    from bippop.runtime.web import serve

    serve(get_settings(), host=host, port=port, workers=workers)


@click.command()
@click.option(
    "--processes", type=int, default=None, help="Worker processes (default BIPPOP_WORKER_PROCESSES)."
)
@click.option(
    "--threads", type=int, default=None, help="Threads per process (default BIPPOP_WORKER_THREADS)."
)
def worker(processes: int | None, threads: int | None) -> None:
    """Run a background-job worker (dramatiq): provisioning, notifications, exports…"""
    settings = get_settings()
    args = [
        sys.executable,
        "-m",
        "dramatiq",
        "bippop.worker",
        "--processes",
        str(processes or settings.worker_processes),
        "--threads",
        str(threads or settings.worker_threads),
    ]
    os.execv(sys.executable, args)  # noqa: S606 (replaces this process with the dramatiq worker)


@click.command()
@friendly_errors
def scheduler() -> None:
    """Run the scheduler that enqueues periodic jobs. Run exactly one per platform."""
    from bippop.observability import configure_logging
    from bippop.scheduler import build_scheduler

    settings = get_settings()
    configure_logging(settings)
    scheduler = build_scheduler(settings)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


# Migrations --------------------------------------------------------------------------


@click.command()
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Tenants migrated at once (default BIPPOP_MIGRATE_CONCURRENCY).",
)
@friendly_errors
def migrate(concurrency: int | None) -> None:
    """Bring the database up to date: the platform schema, then every tenant's schema.

    Each tenant is migrated in its own transaction; one failing tenant does not stop
    the others. The run ends with a summary naming each failure, and exits with
    status 1 if any. Interrupted runs can simply be started again.
    """
    from bippop.runtime.operations import migrate_everything

    settings = get_settings()
    report = migrate_everything(settings, concurrency=concurrency, progress=True)
    sys.exit(0 if report.ok else 1)
