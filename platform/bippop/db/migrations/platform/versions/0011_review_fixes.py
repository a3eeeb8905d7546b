"""The database itself refuses an archived default plan (two operators archiving a plan and making it
the default at the same moment could otherwise leave one): a plan that is both is made offered again
first, then the check is added.

Revision ID: p0011
Revises: p0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "p0011"
down_revision: str | None = "p0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"


def upgrade() -> None:
    op.execute(f"update {SCHEMA}.plans set archived_at = null where is_default and archived_at is not null")
    op.create_check_constraint(
        "ck_plans_default_not_archived",
        "plans",
        "not (is_default and archived_at is not null)",
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_constraint("ck_plans_default_not_archived", "plans", schema=SCHEMA, type_="check")
