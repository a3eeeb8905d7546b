"""The tenant chain has branches now (one per service module with its own tables): a tenant's revision is
the sorted list of its heads joined by ``+`` (``events_0001+t0007``), longer than one revision id.

Revision ID: p0006
Revises: p0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p0006"
down_revision: str | None = "p0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def upgrade() -> None:
    op.alter_column("tenants", "revision", type_=sa.String(400), schema=SCHEMA)
    op.alter_column("spare_schemas", "revision", type_=sa.String(400), schema=SCHEMA)


def downgrade() -> None:
    op.alter_column("spare_schemas", "revision", type_=sa.String(32), schema=SCHEMA)
    op.alter_column("tenants", "revision", type_=sa.String(32), schema=SCHEMA)
