"""Real web servers for the benchmarks: ``bippop web`` and the baselines as subprocesses, and wrk.

Imported as ``webserver`` (pytest puts ``tests/benchmarks`` on ``sys.path``, as for ``reporting``).
Each server runs in a session of its own (``start_new_session``) with its output in a log file that
a failure to start shows.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import psutil
import pytest

from bippop.config import Settings
from support import clean_env
from wrk_output import WrkOutputError, WrkResult, parse

BASELINE_APPS = Path(__file__).with_name("baseline_apps.py")
WRK_INSTALL_HINT = (
    "wrk is not on PATH: install it (Debian/Ubuntu: `apt-get install -y wrk`) to run this benchmark"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(settings: Settings, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment ``bippop web`` (and the baselines) get: a newcomer's, plus the settings' servers."""
    return clean_env(
        BIPPOP_DATABASE_URL=settings.database_url or "",
        BIPPOP_DATABASE_ADMIN_URL=settings.database_admin_url or "",
        BIPPOP_REDIS_URL=settings.redis_url or "",
        BIPPOP_BASE_DOMAIN=settings.base_domain,
        BIPPOP_VAR_DIR=str(var_dir),
        BIPPOP_LOG_LEVEL="WARNING",
        **extra,
    )


def _spawn(command: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            list(command), env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_web(
    settings: Settings,
    var_dir: Path,
    port: int,
    log_path: Path,
    *,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``bippop web --port PORT [options]`` on the settings' servers; ``env`` adds variables."""
    return _spawn(
        [sys.executable, "-m", "bippop", "web", "--port", str(port), *options],
        server_env(settings, var_dir, **(env or {})),
        log_path,
    )


def granian_path() -> Path | None:
    """The venv's ``granian`` (a dev dependency), or None where it is not installed."""
    found = Path(sys.executable).with_name("granian")
    return found if found.is_file() else None


def start_granian(
    settings: Settings,
    var_dir: Path,
    port: int,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """The platform's app (``bippop.app:create_app``) under Granian, one worker, uvloop, as a side-by-side
    comparison with ``bippop web``'s uvicorn (issue 13); not how the platform is served."""
    granian = granian_path()
    assert granian is not None
    command = [
        str(granian),
        "--interface",
        "asgi",
        "--factory",
        "--loop",
        "uvloop",
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-ws",
        "bippop.app:create_app",
    ]
    return _spawn(command, server_env(settings, var_dir, **(env or {})), log_path)


def start_baseline(
    kind: str, settings: Settings, var_dir: Path, port: int, log_path: Path, *, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """One of the baseline apps of ``baseline_apps.py`` (``bare`` or ``io``), served by uvicorn."""
    return _spawn(
        [sys.executable, str(BASELINE_APPS), kind, "--port", str(port)],
        server_env(settings, var_dir, **env),
        log_path,
    )


def wait_healthy(
    process: subprocess.Popen[bytes],
    base_url: str,
    log_path: Path,
    seconds: float = 60,
    path: str = "/healthz",
    name: str = "bippop web",
) -> None:
    """Until ``GET path`` answers 200; fails the test (with the log's end) if the process exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited ({process.returncode}):\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{name} did not answer {path} within {seconds:.0f} s:\n{log_path.read_text()[-4000:]}")


def stop_web(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s; workers left behind by their parent (``--workers``) go too."""
    if process.poll() is not None:
        return
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    _gone, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()


def memory(pid: int) -> dict[str, int]:
    """RSS and USS of the web process and its children (uvicorn without workers has none)."""
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    rss = uss = 0
    for process in processes:
        info = process.memory_full_info()
        rss += info.rss
        uss += info.uss
    return {"rss_bytes": rss, "uss_bytes": uss, "processes": len(processes)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process and of its live children (a server's workers)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


def wrk_path() -> str:
    """wrk's path, or the test is skipped with how to install it."""
    found = shutil.which("wrk")
    if found is None:
        pytest.skip(WRK_INSTALL_HINT)
    return found


def run_wrk(
    url: str,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    *,
    threads: int = 1,
    connections: int = 32,
) -> tuple[WrkResult, str]:
    """``wrk -t1 -c32 -d<seconds>s --latency`` on ``url``; returns the figures and wrk's output.
    Fails the test when wrk fails or prints no report."""
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"wrk failed ({done.returncode}) on {url}:\n{output[-3000:]}")
    try:
        return parse(done.stdout), output
    except WrkOutputError as error:
        pytest.fail(f"wrk on {url}: {error}")
