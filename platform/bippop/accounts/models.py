"""Tenant tables about people: identity, roles, password hash, second factor, single-use links,
linked FranceConnect/ProConnect identities, relatives' mandates, and the audit log."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Float, ForeignKey, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bippop.db.base import TenantBase, TenantRecord
from bippop.tenants.tenant_settings import Setting as Setting  # re-exported: moved below the web kit

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
    # Contact details: shown to a volunteer only once vetted and confirmed on a request (aid/contact.py).
    phone: Mapped[str | None] = mapped_column(String(30), default=None)
    address: Mapped[str | None] = mapped_column(String(200), default=None)
    postcode: Mapped[str | None] = mapped_column(String(10), default=None)
    commune_code: Mapped[str | None] = mapped_column(String(5), default=None)
    # Where they live, for distances: from the address when geocoded, else the commune's centroid.
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    location_precision: Mapped[str | None] = mapped_column(String(10), default=None)
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(8)), default=lambda: ["fr"])
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    # 0 none, 1 identity checked, 2 vetted (interview and criminal-record extract); until when.
    vetting_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    vetted_until: Mapped[datetime.date | None] = mapped_column(Date, default=None)
    # How to reach them, in order of preference: email, sms, voice, coordinator (a coordinator phones).
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(12)), default=lambda: ["email"])
    max_distance_km: Mapped[int] = mapped_column(SmallInteger, default=5)
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)

    def vetting_on(self, day: datetime.date) -> int:
        """The vetting level that counts on ``day`` (an expired vetting counts as none)."""
        if self.vetting_level and self.vetted_until is not None and self.vetted_until < day:
            return 0
        return self.vetting_level

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
