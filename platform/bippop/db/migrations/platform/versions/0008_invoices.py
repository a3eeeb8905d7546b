"""Invoices and credit notes: one number sequence per year (allocated in the issuing transaction, so
numbers have no gap and follow the issue dates), and the issued documents themselves, which the
database refuses to edit or delete (a credit note corrects an invoice).

Revision ID: p0008
Revises: p0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "p0008"
down_revision: str | None = "p0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "platform"

# What an issued document says: never changed once written (its PDF, transmission and payment
# columns, added by later work, stay writable).
FROZEN = (
    "id",
    "tenant_id",
    "kind",
    "number",
    "year",
    "sequence",
    "issued_at",
    "issue_date",
    "due_date",
    "period_start",
    "period_end",
    "credits_invoice_id",
    "currency",
    "total_excl_vat",
    "vat_total",
    "total_incl_vat",
    "lines",
    "buyer",
    "seller",
    "run_key",
)


def upgrade() -> None:
    op.create_table(
        "invoice_sequences",
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("last_number", sa.Integer(), nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        # No foreign key: an invoice outlives its tenant (kept ten years for the accounts).
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),  # invoice | credit_note
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column(
            "credits_invoice_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.invoices.id", name="fk_invoices_credits"),
            nullable=True,
        ),
        sa.Column("currency", sa.String(3), nullable=False, server_default="EUR"),
        sa.Column("total_excl_vat", sa.Numeric(12, 2), nullable=False),
        sa.Column("vat_total", sa.Numeric(12, 2), nullable=False),
        sa.Column("total_incl_vat", sa.Numeric(12, 2), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        sa.Column("buyer", postgresql.JSONB(), nullable=False),
        sa.Column("seller", postgresql.JSONB(), nullable=False),
        # What a run issues it for (tenant, period): a resumed or concurrent run issues nothing twice.
        sa.Column("run_key", sa.String(120), nullable=True, unique=True),
        sa.Column("pdf_key", sa.String(300), nullable=True),
        sa.Column("pdf_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("year", "sequence", name="uq_invoices_year_sequence"),
        sa.CheckConstraint("kind in ('invoice', 'credit_note')", name="ck_invoices_kind"),
        sa.CheckConstraint(
            "(kind = 'credit_note') = (credits_invoice_id is not null)", name="ck_invoices_credit_target"
        ),
        sa.CheckConstraint("total_incl_vat = total_excl_vat + vat_total", name="ck_invoices_totals"),
        schema=SCHEMA,
    )
    op.create_index("ix_invoices_tenant", "invoices", ["tenant_id", "issued_at"], schema=SCHEMA)
    changed = " or ".join(f"new.{column} is distinct from old.{column}" for column in FROZEN)
    op.execute(
        f"""
        create function {SCHEMA}.refuse_invoice_edit() returns trigger language plpgsql as $$
        begin
          if tg_op = 'DELETE' then
            raise exception 'an issued invoice is never deleted (number %%)', old.number
              using errcode = 'integrity_constraint_violation';
          end if;
          if {changed} then
            raise exception 'an issued invoice is never edited (number %%): issue a credit note', old.number
              using errcode = 'integrity_constraint_violation';
          end if;
          return new;
        end $$
        """.replace("%%", "%")
    )
    op.execute(
        f"create trigger invoices_frozen before update or delete on {SCHEMA}.invoices "
        f"for each row execute function {SCHEMA}.refuse_invoice_edit()"
    )


def downgrade() -> None:
    op.execute(f"drop trigger if exists invoices_frozen on {SCHEMA}.invoices")
    op.execute(f"drop function if exists {SCHEMA}.refuse_invoice_edit()")
    op.drop_table("invoices", schema=SCHEMA)
    op.drop_table("invoice_sequences", schema=SCHEMA)
