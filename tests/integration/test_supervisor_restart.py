"""`bippop run` keeps the platform up: a child that stops (a crash, ``kill -9``) is started again after a
pause that doubles while it keeps stopping, and Ctrl-C still stops everything at once. A worker killed
with ``kill -9`` is back within seconds, and the mail asked for while it was down arrives once."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import psutil
import pytest
from aiosmtpd.controller import Controller

from bippop.config import Settings
from bippop.runtime.supervisor import Backoff, Child, Supervisor
from support import clean_env


def _wait_for(predicate: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.05)


def test_pauses_double_up_to_thirty_seconds_and_start_over_after_a_steady_minute() -> None:
    backoff = Backoff()
    assert [backoff.delay_after(uptime=0.2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay_after(uptime=61) == 1  # it had stayed up a minute: a fresh start
    assert backoff.delay_after(uptime=3) == 2


# Real child processes under the real watch loop, without the platform ----------------------------


def _child(supervisor: Supervisor, name: str, code: str, backoff: Backoff) -> Child:
    child = Child(name, [sys.executable, "-c", code], dict(os.environ), backoff=backoff)
    supervisor.children[name] = child
    child.start()
    return child


def test_a_killed_child_is_started_again_and_ctrl_c_still_stops_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = Supervisor(Settings(env="test", var_dir=tmp_path))
    watcher = threading.Thread(target=supervisor._watch, daemon=True)
    try:
        steady = _child(supervisor, "worker", "import time; time.sleep(60)", Backoff(first=0.1, most=0.4))
        crashing = _child(supervisor, "scheduler", "raise SystemExit(3)", Backoff(first=0.1, most=0.4))
        assert steady.process is not None
        first_pid = steady.process.pid
        watcher.start()

        os.killpg(first_pid, signal.SIGKILL)
        _wait_for(
            lambda: steady.process is not None and steady.process.pid != first_pid, 5, "the killed child back"
        )
        # The one that stops at once keeps being started again, each pause longer, up to the cap.
        _wait_for(lambda: crashing.backoff.failures >= 4, 5, "the crashing child started again")
        printed = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
        assert (
            f"« worker » (pid {first_pid}) s'est arrêté (code -9, SIGKILL) ; redémarrage dans 0.1 s"
            in printed
        )
        assert "« scheduler »" in printed and "(code 3) ; redémarrage dans 0.4 s" in printed
        assert "Processus « worker » redémarré" in printed

        second = steady.process
        assert second is not None
        started = time.monotonic()
        supervisor.stopping.set()  # what Ctrl-C and SIGTERM do
        watcher.join(5)
        supervisor._stop_everything()
        assert time.monotonic() - started < 3
        assert second.poll() is not None
    finally:
        supervisor.stopping.set()
        if watcher.is_alive():
            watcher.join(5)
        supervisor._stop_everything()


# The whole platform: `bippop run`, its worker killed ----------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Output:
    """The lines `bippop run` prints, read as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return " ".join("".join(self.lines).split())  # rich wraps long lines


@pytest.mark.slow
def test_a_worker_killed_with_kill_9_is_back_and_delivers_what_was_asked_meanwhile() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bippop-restart-"))
    inbox = Inbox()
    smtp_port, port = _free_port(), _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = clean_env(
        BIPPOP_VAR_DIR=str(folder / "var"),
        BIPPOP_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        BIPPOP_SPARE_POOL_SIZE="0",
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "bippop", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(run)
    try:
        _wait_for(lambda: "Bip Pop est prêt" in output.text() or run.poll() is not None, 120, "bippop run")
        assert run.poll() is None, output.text()
        (worker,) = [p for p in psutil.Process(run.pid).children() if "worker" in " ".join(p.cmdline())]
        web = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Host": "demo.localhost"})
        web.get("/connexion")  # the CSRF cookie, before anything is down
        token = web.cookies["csrftoken"]

        os.killpg(worker.pid, signal.SIGKILL)
        asked = web.post(
            "/mot-de-passe-oublie", data={"email": "jeanne@demo.localhost", "_csrf_token": token}
        )
        assert asked.status_code == 200, asked.text
        assert "redémarré" not in output.text(), "the mail was asked for after the worker came back"

        _wait_for(lambda: "Processus « worker » redémarré" in output.text(), 10, "the worker restarted")
        assert f"« worker » (pid {worker.pid}) s'est arrêté (code -9, SIGKILL)" in output.text()
        back = int(re.search(r"« worker » redémarré \(pid (\d+)\)", output.text()).group(1))  # type: ignore[union-attr]
        assert back != worker.pid and psutil.Process(back).ppid() == run.pid
        _wait_for(lambda: inbox.to("jeanne@demo.localhost"), 30, "the password mail")
        web.close()
    finally:
        descendants = psutil.Process(run.pid).children(recursive=True) if run.poll() is None else []
        run.send_signal(signal.SIGINT)
        run.wait(60)
        _gone, alive = psutil.wait_procs(descendants, timeout=10)
        smtp.stop()
        shutil.rmtree(folder, ignore_errors=True)
    assert not alive, f"left behind: {alive}"
    assert run.returncode == 0, output.text()
    assert len(inbox.to("jeanne@demo.localhost")) == 1  # once, not again after the restart
