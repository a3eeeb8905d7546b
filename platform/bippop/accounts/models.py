"""Tenant tables about people: identity, roles, password hash, second factor, single-use links,
linked FranceConnect/ProConnect identities, relatives' mandates, and the audit log."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, func
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
    # The TOTP secret, encrypted with a key derived from BIPPOP_SECRET_KEY (accounts/mfa.py).
    totp_secret: Mapped[str | None] = mapped_column(Text, default=None)
    totp_confirmed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    email_verified_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    disabled_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    @property
    def can_sign_in(self) -> bool:
        return self.disabled_at is None


TOKEN_PURPOSES = ("verify_email", "reset_password", "sign_in_link", "invitation")


class AccountToken(TenantRecord):
    """A single-use link sent by e-mail; only the SHA-256 of its secret is kept."""

    __tablename__ = "account_tokens"

    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ExternalIdentity(TenantRecord):
    """A FranceConnect or ProConnect account (provider + subject) linked to a person of this tenant."""

    __tablename__ = "external_identities"

    provider: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))


MANDATE_CONSENTS = ("written", "oral", "legal_protection")


class Mandate(TenantRecord):
    """A relative may act for a beneficiary: recorded by a coordinator, with how consent was given."""

    __tablename__ = "mandates"

    relative_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    beneficiary_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    consent: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class RecoveryCode(TenantBase):
    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Setting(TenantBase):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)


class AuditEvent(TenantBase):
    __tablename__ = "audit_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str | None] = mapped_column(String(40), default=None)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    ip_address: Mapped[str | None] = mapped_column(String(45), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
