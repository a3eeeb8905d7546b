"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from bippop.config import Settings
from bippop.tenants.context import TenantRef

BASE_DOMAIN = "bippop.test"


def make_tenant(settings: Settings, slug: str, name: str, **kwargs: object) -> TenantRef:
    from bippop.runtime.operations import create_tenant

    code = str(kwargs.pop("code", "60159"))
    tenant = create_tenant(settings, slug, name, "commune", code, **kwargs)  # type: ignore[arg-type]
    return tenant.ref()


def host(slug_or_domain: str) -> dict[str, str]:
    """Headers for a request on a tenant's subdomain (a slug) or on a full host name."""
    name = slug_or_domain if "." in slug_or_domain else f"{slug_or_domain}.{BASE_DOMAIN}"
    return {"Host": name}


SYNTHETIC_REVISION = "bench0002"


def write_synthetic_change(folder: Path, down_revision: str, *, sleep_seconds: float = 0.0) -> str:
    """A real schema change for the tenant chain (a new table with an index, and a new column with a
    default), written as a migration file in ``folder``; returns its revision id."""
    folder.mkdir(parents=True, exist_ok=True)
    pause = f'    op.execute("select pg_sleep({sleep_seconds})")\n' if sleep_seconds else ""
    (folder / f"{SYNTHETIC_REVISION}_visit_notes.py").write_text(
        f'''"""Synthetic change for benchmarks and resumability tests.

Revision ID: {SYNTHETIC_REVISION}
Revises: {down_revision}
"""

import sqlalchemy as sa
from alembic import op

revision = "{SYNTHETIC_REVISION}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit_notes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_visit_notes_person_id", "visit_notes", ["person_id"])
    op.add_column("people", sa.Column("phone_verified", sa.Boolean(), nullable=False, server_default=sa.false()))
{pause}

def downgrade() -> None:
    op.drop_column("people", "phone_verified")
    op.drop_table("visit_notes")
'''
    )
    return SYNTHETIC_REVISION
