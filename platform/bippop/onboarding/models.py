"""A council's sign-up while it goes through the wizard: kept in ``platform`` (there is no tenant yet),
found again by the secret its browser holds (cookie) or the e-mailed "resume" link carries."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import PLATFORM_SCHEMA, PlatformRecord

SIGNUP_STATUSES = ("draft", "submitted", "done", "failed")


class Signup(PlatformRecord):
    __tablename__ = "signups"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    step_done: Mapped[int] = mapped_column(default=0)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    email_code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    email_code_expires_at: Mapped[datetime.datetime | None] = mapped_column(default=None)
    email_code_attempts: Mapped[int] = mapped_column(default=0)
    email_verified_at: Mapped[datetime.datetime | None] = mapped_column(default=None)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    totp_secret: Mapped[str | None] = mapped_column(Text, default=None)  # sealed
    totp_confirmed_at: Mapped[datetime.datetime | None] = mapped_column(default=None)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.tenants.id", ondelete="SET NULL"), default=None
    )
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime.datetime]
