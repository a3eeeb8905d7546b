"""The tenant's outbox: one row per message, written in the transaction of the change it announces
(``bippop.outbox.writing``), delivered by ``bippop.notifications``."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import PLATFORM_SCHEMA, PlatformRecord, TenantRecord

STATUSES = ("pending", "sent", "failed")


class OutboxMessage(TenantRecord):
    __tablename__ = "outbox_messages"

    channel: Mapped[str] = mapped_column(String(10), default="email")
    purpose: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # "reminder:<appointment id>": a message planned twice (a retried job) is written once.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), default=None, unique=True)


class PlatformOutboxMessage(PlatformRecord):
    """Mail the platform sends before or outside any tenant (a council's sign-up, the public contact
    form): in ``platform``, delivered like a tenant's outbox rows."""

    __tablename__ = "outbox_messages"
    __table_args__ = {"schema": PLATFORM_SCHEMA}

    purpose: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    reply_to: Mapped[str | None] = mapped_column(String(254), default=None)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), default=None, unique=True)
