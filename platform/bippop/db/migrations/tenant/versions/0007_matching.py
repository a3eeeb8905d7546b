"""Tenant schema: two indexes for volunteer matching (aid/matching.py), both measured by
tests/benchmarks/test_matching_bench.py on 10,000 volunteers and a year of appointments.

- ``ix_appointments_starts`` (``starts_at``, with ``volunteer_id`` and ``status``): the fair-load
  part counts every volunteer's appointments of the last 30 days; without it that count reads the
  whole appointments history.
- ``ix_people_unlocated`` (``commune_code``, only people without coordinates): the few volunteers
  placed at their commune's centroid are found without a second scan of ``people``.

Revision ID: t0007
Revises: t0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0007"
down_revision: str | None = "t0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_appointments_starts",
        "appointments",
        ["starts_at"],
        postgresql_include=["volunteer_id", "status"],
    )
    op.create_index(
        "ix_people_unlocated",
        "people",
        ["commune_code"],
        postgresql_where=sa.text("latitude is null or longitude is null"),
    )


def downgrade() -> None:
    op.drop_index("ix_people_unlocated", "people")
    op.drop_index("ix_appointments_starts", "appointments")
