"""Co-op staff, in schema ``platform``: operators and administrators of the co-operative. They are people
who sign in (password, second factor), so their tables sit with the accounts; ``coop`` is their console."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import PLATFORM_SCHEMA, PlatformBase, PlatformRecord

STAFF_ROLES = ("coop_operator", "coop_admin")


class Staff(PlatformRecord):
    __tablename__ = "staff"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list)
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    totp_secret: Mapped[str | None] = mapped_column(Text, default=None)
    totp_confirmed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    disabled_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    @property
    def can_sign_in(self) -> bool:
        return self.disabled_at is None


class StaffRecoveryCode(PlatformBase):
    __tablename__ = "staff_recovery_codes"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{PLATFORM_SCHEMA}.staff.id", ondelete="CASCADE")
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
