"""Issue 13: ``bippop web --workers N`` runs N processes on one port, each answering, and stops them
all on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from bippop.config import Settings
from support import clean_env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_workers_share_the_port_and_stop_together(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        BIPPOP_DATABASE_URL=settings.database_url or "",
        BIPPOP_REDIS_URL=settings.redis_url or "",
        BIPPOP_BASE_DOMAIN=settings.base_domain,
        BIPPOP_VAR_DIR=str(tmp_path),
        BIPPOP_LOG_LEVEL="WARNING",
    )
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bippop", "web", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            children = psutil.Process(process.pid).children()
            workers = [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                answered = False
            if answered and len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2, log.read_text()[-3000:]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert all(client.get("/healthz").status_code == 200 for _ in range(20))
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        _gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
    finally:
        if process.poll() is None:  # a failed test leaves no worker behind: the whole group goes
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        for worker in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
