"""File storage: a local directory or an S3 bucket, and each tenant's files under ``tenants/<uuid>/``.

Tenant code uses :class:`TenantFiles` (or :func:`tenant_files`), never raw keys.
"""

from bippop.storage.backends import (
    DEFAULT_CONTENT_TYPE,
    LocalStorage,
    S3Storage,
    Storage,
    StorageUnavailable,
    TenantFiles,
    storage_from_settings,
    tenant_files,
)
from bippop.storage.keys import InvalidKey, check_key, check_prefix, tenant_key, tenant_prefix

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "InvalidKey",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StorageUnavailable",
    "TenantFiles",
    "check_key",
    "check_prefix",
    "storage_from_settings",
    "tenant_files",
    "tenant_key",
    "tenant_prefix",
]
