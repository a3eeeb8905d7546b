"""The one fallback of the settings: beside a live `bippop run`, a command takes the addresses it wrote
in var/services.json for every service whose variable is unset — never from a dead run's file."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bippop.config import RUNNING_SERVICES_FILE, Settings, process_is_alive, with_running_services

FILE = {
    "database_url": "postgresql://bippop_app@/postgres?host=/tmp/pg-socket",
    "database_admin_url": "postgresql://postgres@/postgres?host=/tmp/pg-socket",
    "redis_url": "unix:///tmp/redis.sock",
    "broker_url": "unix:///tmp/redis.sock",
    "host": "127.0.0.1",
    "port": 8123,
}


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that looks like a supervisor (its command line names bippop)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print(flush=True); time.sleep(60)", "bippop"],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # it runs: its command line is the one given, not this process's
        yield process.pid
    finally:
        process.kill()
        process.wait()


def write(var_dir: Path, pid: int) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / RUNNING_SERVICES_FILE).write_text(json.dumps({**FILE, "pid": pid}))


def test_unset_variables_come_from_the_live_supervisors_file(tmp_path: Path, live_pid: int) -> None:
    write(tmp_path, live_pid)
    environ = {"BIPPOP_VAR_DIR": str(tmp_path)}
    settings = with_running_services(Settings.from_env(environ), environ)
    assert settings.database_url == FILE["database_url"]
    assert settings.database_admin_url == FILE["database_admin_url"]
    assert settings.redis_url == FILE["redis_url"] and settings.broker_url == FILE["broker_url"]
    # Addresses printed by the CLI carry the port the supervisor serves.
    assert settings.port == 8123 and settings.effective_public_url == "http://localhost:8123"


def test_a_variable_that_is_set_wins_over_the_file(tmp_path: Path, live_pid: int) -> None:
    write(tmp_path, live_pid)
    environ = {
        "BIPPOP_VAR_DIR": str(tmp_path),
        "BIPPOP_DATABASE_URL": "postgresql://me@db.example/bippop",
        "BIPPOP_REDIS_URL": "redis://cache.example:6379/0",
        "BIPPOP_PORT": "9000",
    }
    settings = with_running_services(Settings.from_env(environ), environ)
    assert settings.database_url == "postgresql://me@db.example/bippop"
    assert settings.database_admin_url is None  # the app URL is used for both, as without the file
    assert settings.redis_url == "redis://cache.example:6379/0"
    assert settings.broker_url is None and settings.effective_broker_url == "redis://cache.example:6379/0"
    assert settings.port == 9000


def test_the_file_of_a_stopped_run_is_ignored(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass", "bippop"])
    finished.wait()
    write(tmp_path, finished.pid)
    environ = {"BIPPOP_VAR_DIR": str(tmp_path)}
    settings = with_running_services(Settings.from_env(environ), environ)
    assert settings.database_url is None and settings.port == 8000


def test_a_pid_reused_by_another_program_is_not_a_supervisor(tmp_path: Path) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; print(flush=True); time.sleep(60)"], stdout=subprocess.PIPE
    )
    try:
        assert other.stdout is not None
        other.stdout.readline()
        assert not process_is_alive(other.pid)
        write(tmp_path, other.pid)
        environ = {"BIPPOP_VAR_DIR": str(tmp_path)}
        assert with_running_services(Settings.from_env(environ), environ).database_url is None
    finally:
        other.kill()
        other.wait()


def test_no_file_or_a_garbled_one_changes_nothing(tmp_path: Path) -> None:
    environ = {"BIPPOP_VAR_DIR": str(tmp_path)}
    assert with_running_services(Settings.from_env(environ), environ).database_url is None
    (tmp_path / RUNNING_SERVICES_FILE).write_text("{not json")
    assert with_running_services(Settings.from_env(environ), environ).database_url is None


def test_a_second_run_on_the_same_data_is_refused(
    tmp_path: Path, live_pid: int, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from bippop.runtime.supervisor import Supervisor

    write(tmp_path, live_pid)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert Supervisor(Settings(var_dir=tmp_path, port=port)).run() == 2
    assert "tourne déjà" in capsys.readouterr().out
    assert (tmp_path / RUNNING_SERVICES_FILE).exists()  # the other run's file is left alone


def test_production_never_reads_the_file(tmp_path: Path, live_pid: int) -> None:
    write(tmp_path, live_pid)
    environ = {
        "BIPPOP_VAR_DIR": str(tmp_path),
        "BIPPOP_ENV": "production",
        "BIPPOP_SECRET_KEY": "k" * 40,
        "BIPPOP_DATABASE_URL": "postgresql://app@db.example/bippop",
        "BIPPOP_REDIS_URL": "redis://cache.example:6379/0",
        "BIPPOP_STORAGE_URL": "s3://bucket",
    }
    settings = with_running_services(Settings.from_env(environ), environ)
    assert settings.database_admin_url is None and settings.port == 8000
