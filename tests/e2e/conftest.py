"""A live server on loopback and Debian's Chromium driven by Playwright.

Chromium maps every ``*.bippop.test`` host to 127.0.0.1, so pages are visited
under their real tenant host names. Without Chromium the tests are skipped with
a notice, except in CI, where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from bippop.app import create_app
from bippop.config import Settings

CHROMIUM = Path(os.environ.get("BIPPOP_TEST_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    with serving(settings) as address:
        yield address


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app on a free loopback port, in a thread; yields ``bippop.test:<port>``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    yield f"bippop.test:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Per module: sync Playwright keeps an event loop running in this thread while it is open,
    which async tests collected after it could not share."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"Browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--host-resolver-rules=MAP *.bippop.test 127.0.0.1, MAP bippop.test 127.0.0.1",
            ],
        )
        yield browser
        browser.close()
