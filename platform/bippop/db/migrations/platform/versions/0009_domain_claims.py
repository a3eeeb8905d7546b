"""A custom domain a council adds but has not proved is no longer the domain's for good: a host name is
unique among *verified* domains only (one claim per tenant). Verifying one removes the other tenants'
pending claims of it, so a stranger's claim never blocks the real owner.

Revision ID: p0009
Revises: p0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p0009"
down_revision: str | None = "p0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def upgrade() -> None:
    op.drop_constraint("uq_domains_hostname", "domains", schema=SCHEMA, type_="unique")
    op.create_index(
        "uq_domains_verified_hostname",
        "domains",
        ["hostname"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("verified_at is not null"),
    )
    op.create_index(
        "uq_domains_tenant_hostname", "domains", ["tenant_id", "hostname"], unique=True, schema=SCHEMA
    )


def downgrade() -> None:
    op.execute(f"delete from {SCHEMA}.domains where verified_at is null")
    op.drop_index("uq_domains_tenant_hostname", "domains", schema=SCHEMA)
    op.drop_index("uq_domains_verified_hostname", "domains", schema=SCHEMA)
    op.create_unique_constraint("uq_domains_hostname", "domains", ["hostname"], schema=SCHEMA)
