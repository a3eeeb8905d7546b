"""Process-wide resources for CLI commands, workers and the scheduler (the web app builds its own).

They belong to the tenancy core, which knows where each tenant lives, so that every domain's jobs
reach them from below (``tenants``) instead of up through ``runtime``.

Built once per process, lazily, from settings: one engine (one pool for every
tenant) and one Redis client. Imports stay light: `bippop migrate` with nothing
to do must answer well under a second, start-up included.
"""

from __future__ import annotations

import threading
import uuid
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from bippop.config import MAIN_CLUSTER, Settings, get_settings
from bippop.db.engine import make_engine, session_factory
from bippop.tenants.context import TenantRef

if TYPE_CHECKING:
    from redis import Redis

    from bippop.tenants.cache import HostCache


class PlatformResources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cluster_engines: dict[tuple[str, bool], Engine] = {}
        self._lock = threading.Lock()

    def engine_for(self, cluster: str) -> Engine:
        """The app's engine on ``cluster`` (``main`` holds the platform schema)."""
        return self.engine if cluster == MAIN_CLUSTER else self._other(cluster, admin=False)

    def admin_engine_for(self, cluster: str) -> Engine:
        """The migrator's engine on ``cluster``: DDL of the tenant schemas placed there."""
        return self.admin_engine if cluster == MAIN_CLUSTER else self._other(cluster, admin=True)

    def _other(self, cluster: str, *, admin: bool) -> Engine:
        with self._lock:
            key = (cluster, admin)
            if key not in self._cluster_engines:
                size = max(self.settings.migrate_concurrency, 4)
                self._cluster_engines[key] = make_engine(
                    self.settings, pool_size=size, admin=admin, cluster=cluster
                )
            return self._cluster_engines[key]

    def tenant_session(self, tenant: TenantRef):  # type: ignore[no-untyped-def]
        """A session scoped to ``tenant``, on the cluster that holds it: what tenant jobs use."""
        return session_factory(self.engine_for(tenant.cluster))(info={"tenant": tenant})

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings, pool_size=max(self.settings.migrate_concurrency, 4))

    @cached_property
    def admin_engine(self) -> Engine:
        if self.settings.effective_admin_url == self.settings.database_url:
            return self.engine
        return make_engine(self.settings, pool_size=max(self.settings.migrate_concurrency, 4), admin=True)

    @cached_property
    def redis(self) -> Redis | None:
        if not self.settings.redis_url:
            return None
        from redis import Redis

        return Redis.from_url(self.settings.redis_url, socket_timeout=5, socket_connect_timeout=3)

    @cached_property
    def host_cache(self) -> HostCache | None:
        from bippop.tenants.cache import HostCache

        return HostCache(self.redis) if self.redis is not None else None

    def sessions(self):  # type: ignore[no-untyped-def]
        return session_factory(self.engine)

    def admin_sessions(self):  # type: ignore[no-untyped-def]
        return session_factory(self.admin_engine)

    def load_tenant(self, tenant_id: uuid.UUID) -> TenantRef | None:
        from bippop.tenants.models import Tenant

        with self.sessions()() as session:
            tenant = session.get(Tenant, tenant_id)
            return tenant.ref() if tenant is not None else None

    def close(self) -> None:
        for engine in self._cluster_engines.values():
            engine.dispose()
        self._cluster_engines.clear()
        if "admin_engine" in self.__dict__:
            self.admin_engine.dispose()
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "redis" in self.__dict__ and self.redis is not None:
            self.redis.close()


_lock = threading.Lock()
_resources: PlatformResources | None = None


def platform_resources() -> PlatformResources:
    global _resources
    with _lock:
        if _resources is None:
            _resources = PlatformResources(get_settings())
        return _resources


def use_resources(resources: PlatformResources | None) -> None:
    """Tests and the supervisor install their own resources."""
    global _resources
    with _lock:
        if _resources is not None and _resources is not resources:
            _resources.close()
        _resources = resources


def resources_for(settings: Settings) -> PlatformResources:
    """The process's resources, rebuilt when ``settings`` differ (a CLI command given other settings)."""
    current = platform_resources()
    if current.settings != settings:
        current = PlatformResources(settings)
        use_resources(current)
    return current
