"""How ``bippop web`` runs uvicorn: one place, so the proxies it believes are the configured ones.

uvicorn's proxy-headers middleware rewrites the connection's client address (and scheme) from
``X-Forwarded-For`` / ``X-Forwarded-Proto`` only when the connection comes from an address in
``BIPPOP_TRUSTED_PROXIES``; by itself uvicorn would trust 127.0.0.1 or its own
``FORWARDED_ALLOW_IPS``, which the platform's settings replace.

``--workers N`` (``BIPPOP_WEB_WORKERS``) runs N processes on one listening socket (uvicorn's
supervisor restarts one that dies); each opens its own database pool and Redis connections.
"""

from __future__ import annotations

import sys
from typing import Any

import structlog
import uvicorn
from uvicorn.main import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from bippop.config import Settings
from bippop.observability import configure_logging

APP_FACTORY = "bippop.app:create_app"
log = structlog.get_logger(__name__)


def server_config(
    settings: Settings,
    *,
    app: Any = APP_FACTORY,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
) -> uvicorn.Config:
    """The web server's configuration; ``app`` is the factory's import path, or (tests) an app."""
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxy_networks(),
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
        workers=workers,
    )


def serve(
    settings: Settings, *, host: str | None = None, port: int | None = None, workers: int | None = None
) -> None:
    count = workers or settings.web_workers
    config = server_config(settings, host=host, port=port, workers=count)
    if count > 1:
        # A broken configuration (a theme, a setting) fails here, once, with its message, instead of in
        # workers the supervisor would start again and again.
        configure_logging(settings)
        try:
            from bippop.app import create_app

            create_app(settings)
        except Exception:
            log.exception("web_startup_failed")
            sys.exit(STARTUP_FAILURE)
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # like ``uvicorn.run``: a server that never started is a failure
        sys.exit(STARTUP_FAILURE)
