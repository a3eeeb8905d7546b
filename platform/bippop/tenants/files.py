"""What the tenancy core needs of the file storage, which sits above it (``bippop.storage``): the
protocol its lifecycle is handed (export, restore, purge), and the folder that holds a tenant's files."""

from __future__ import annotations

import uuid
from typing import Protocol

FILES_ROOT = "tenants"


class TenantFiles(Protocol):
    """The part of ``bippop.storage.Storage`` the lifecycle uses; the caller passes the storage in."""

    def put(self, key: str, data: bytes, content_type: str = ...) -> None: ...

    def get(self, key: str) -> bytes: ...

    def list(self, prefix: str) -> list[str]: ...

    def delete_prefix(self, prefix: str) -> int: ...


def files_prefix(tenant_id: uuid.UUID) -> str:
    """``tenants/<uuid>/``: the folder holding every file of one tenant (``storage.keys`` checks it)."""
    return f"{FILES_ROOT}/{tenant_id}/"
