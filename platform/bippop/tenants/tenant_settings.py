"""A tenant's own settings (``settings`` in its schema, one JSON value per key: default language,
providers, modules). Every layer above reads them, the web kit included (the default language), so
the table sits with the tenancy core."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import TenantBase


class Setting(TenantBase):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
