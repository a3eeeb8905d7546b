"""Tenant tables about people. Authentication itself arrives with the accounts issue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import TenantBase, TenantRecord

ROLES = ("beneficiary", "relative", "volunteer", "partner", "coordinator", "tenant_admin")


class Person(TenantRecord):
    __tablename__ = "people"

    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list)
    locale: Mapped[str] = mapped_column(String(5), default="fr")


class Setting(TenantBase):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
