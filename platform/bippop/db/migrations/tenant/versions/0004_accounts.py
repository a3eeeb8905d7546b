"""Tenant schema: what sign-up, sign-in and recovery need.

- ``people``: e-mail verification time, a disabled flag;
- ``account_tokens``: single-use links (e-mail verification, password reset, one-time sign-in,
  invitations), stored as hashes only;
- ``external_identities``: FranceConnect / ProConnect subjects linked to a person;
- ``mandates``: a relative acting for a beneficiary, with the consent recorded;
- ``outbox_messages``: mail written in the same transaction as what it announces, sent after commit.

Revision ID: t0004
Revises: t0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "t0004"
down_revision: str | None = "t0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.add_column("people", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("people", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("person_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("roles", postgresql.ARRAY(sa.String(30)), nullable=False, server_default="{}"),
        sa.Column("created_by", sa.Uuid(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "purpose in ('verify_email', 'reset_password', 'sign_in_link', 'invitation')",
            name="ck_account_tokens_purpose",
        ),
    )
    op.create_index("ix_account_tokens_person", "account_tokens", ["person_id"])
    op.create_table(
        "external_identities",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("person_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("provider", "subject", name="uq_external_identities_subject"),
    )
    op.create_index("ix_external_identities_person", "external_identities", ["person_id"])
    op.create_table(
        "mandates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("relative_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "beneficiary_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("consent", sa.String(20), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("consent in ('written', 'oral', 'legal_protection')", name="ck_mandates_consent"),
        sa.CheckConstraint("relative_id <> beneficiary_id", name="ck_mandates_not_self"),
    )
    op.create_index(
        "uq_mandates_live",
        "mandates",
        ["relative_id", "beneficiary_id"],
        unique=True,
        postgresql_where=sa.text("revoked_at is null"),
    )
    op.create_index("ix_mandates_beneficiary", "mandates", ["beneficiary_id"])
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("channel", sa.String(10), nullable=False, server_default="email"),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("person_id", sa.Uuid(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status in ('pending', 'sent', 'failed')", name="ck_outbox_status"),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox_messages",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("outbox_messages")
    op.drop_table("mandates")
    op.drop_table("external_identities")
    op.drop_table("account_tokens")
    op.drop_column("people", "disabled_at")
    op.drop_column("people", "email_verified_at")
