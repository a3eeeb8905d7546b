"""Data a domain keeps only for a while in each tenant schema: the domain registers its purge (the
accounts audit log does, in ``accounts/audit.py``) and ``tenants.jobs.purge_audit_events`` runs every
registered purge daily in every tenant schema. The tenancy core names no domain."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from bippop.config import Settings

# Deletes what is past retention in the session's tenant schema; returns how many rows went.
RetentionPurge = Callable[[Session, Settings], int]

_purges: dict[str, RetentionPurge] = {}


def register_retention_purge(name: str, purge: RetentionPurge) -> None:
    """Called once at import by the module that owns the data; the same name replaces the entry."""
    _purges[name] = purge


def retention_purges() -> dict[str, RetentionPurge]:
    return dict(_purges)
