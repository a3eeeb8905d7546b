"""`bippop run` as a newcomer starts it: no BIPPOP_* variable, embedded everything; Ctrl-C leaves nothing."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from support import clean_env

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_env(var_dir: Path) -> dict[str, str]:
    return clean_env(BIPPOP_VAR_DIR=str(var_dir))


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _processes_using(var_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(str(var_dir) in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _start(var_dir: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bippop", "run", "--port", str(port)],
        env=_clean_env(var_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(process: subprocess.Popen[str], port: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if _get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail("bippop run did not answer /healthz within 90 s")


def _stop(process: subprocess.Popen[str]) -> str:
    descendants = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    _gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"left behind: {alive}"
    return output


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """Outside pytest's basetemp, which another pytest session may reset to 0700 under pgserver's feet."""
    folder = Path(tempfile.mkdtemp(prefix="bippop-run-"))
    yield folder / "var"
    shutil.rmtree(folder, ignore_errors=True)


def test_run_serves_the_demo_commune_and_stops_cleanly(var_dir: Path) -> None:
    port = _free_port()
    process = _start(var_dir, port)
    _wait_healthy(process, port)
    status, page = _get(f"http://127.0.0.1:{port}/", host="demo.localhost")
    assert status == 200
    assert "Compiègne" in page
    status, _ = _get(f"http://127.0.0.1:{port}/readyz")
    assert status == 200
    output = _stop(process)
    assert process.returncode == 0, output
    assert "coordination@demo.localhost" in output
    assert _processes_using(var_dir) == []

    # A second start finds the data of the first (no second demo commune, same people).
    process = _start(var_dir, port)
    _wait_healthy(process, port)
    status, page = _get(f"http://127.0.0.1:{port}/", host="demo.localhost")
    assert status == 200 and "Compiègne" in page
    output = _stop(process)
    assert "Commune de démonstration créée" not in output
    assert _processes_using(var_dir) == []


def test_run_says_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "bippop", "run", "--port", str(port)],
            env=_clean_env(tmp_path / "var"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port} est déjà utilisé" in result.stdout
    assert f"--port {port + 1}" in result.stdout


def test_database_that_does_not_answer_is_named_without_password(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "var")
    env["BIPPOP_DATABASE_URL"] = f"postgresql://bippop:hunter2-secret@127.0.0.1:{_free_port()}/bippop"
    result = subprocess.run(
        [sys.executable, "-m", "bippop", "tenants", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "127.0.0.1" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
