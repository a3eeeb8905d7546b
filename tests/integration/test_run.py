"""`bippop run` as a newcomer starts it: no BIPPOP_* variable, embedded everything; Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import re
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
from urllib.parse import parse_qs, urlsplit

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


def test_commands_beside_a_running_platform_find_its_services(var_dir: Path) -> None:
    """`bippop tenants list` in another terminal needs no variable; the printed database address works."""
    port = _free_port()
    process = _start(var_dir, port)
    _wait_healthy(process, port)
    services = var_dir / "services.json"
    try:
        assert services.stat().st_mode & 0o777 == 0o600
        written = json.loads(services.read_text())
        assert written["pid"] == process.pid and written["port"] == port
        listed = subprocess.run(
            [sys.executable, "-m", "bippop", "tenants", "list"],
            env=_clean_env(var_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert "demo" in listed.stdout
        # A tenant made beside it: its address carries the port served, its administrator's invitation
        # is delivered by the platform's own worker (development: onto the outbox page).
        create = ["tenants", "create", "beauvais", "--name", "Beauvais", "--code", "60057"]
        created = subprocess.run(
            [sys.executable, "-m", "bippop", *create, "--admin-email", "maire@beauvais.example"],
            env=_clean_env(var_dir),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr + created.stdout
        flat = " ".join(created.stdout.split())
        assert f"http://beauvais.localhost:{port}" in flat and "maire@beauvais.example" in flat
        delivered = re.compile(r"maire@beauvais\.example · [^<]* · sent")
        deadline = time.monotonic() + 30
        while not delivered.search(_get(f"http://127.0.0.1:{port}/dev/courriels", "beauvais.localhost")[1]):
            assert time.monotonic() < deadline, "the run's worker never delivered the invitation"
            time.sleep(0.5)
        outbox = _get(f"http://127.0.0.1:{port}/dev/courriels", "beauvais.localhost")[1]
        assert f"http://beauvais.localhost:{port}/lien/" in outbox  # the tenant's address, with the port
        # The address `bippop run` prints is one the CLI (and psql) accept as it is.
        socket_dir = parse_qs(urlsplit(written["database_admin_url"]).query)["host"][0]
        env = _clean_env(var_dir.parent / "elsewhere")
        env["BIPPOP_DATABASE_URL"] = f"postgresql://postgres@/postgres?host={socket_dir}"
        direct = subprocess.run(
            [sys.executable, "-m", "bippop", "tenants", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert direct.returncode == 0, direct.stderr
        assert "demo" in direct.stdout
    finally:
        output = _stop(process)
    assert f"Base de données : postgresql://bippop_app@/postgres?host={socket_dir}\n" in output
    assert "%2F" not in output
    assert not services.exists()  # gone with the supervisor
