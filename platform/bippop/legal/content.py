"""What the legal pages say: the editable parts (kept in the tenant's ``settings`` table under one key),
their bounds, and the facts generated from the tenant's data, the platform's settings and the code."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.services.links import TOKEN_LIFETIMES
from bippop.accounts.sessions import DEFAULT_TIMEOUTS
from bippop.config import Settings
from bippop.modules import registry
from bippop.tenants.context import TenantRef
from bippop.tenants.lifecycle import DEFAULT_GRACE
from bippop.tenants.tenant_settings import Setting
from bippop.web.i18n import _

SETTING_KEY = "legal.pages"
CONFORMANCE = ("none", "partial", "full")
DEFAULT_CONFORMANCE = "partial"
LONG_TEXT = 5000
# Field → longest text it may hold; the long ones are multi-line (paragraphs from line breaks).
LIMITS = {
    "audit_results": LONG_TEXT,
    "derogations": LONG_TEXT,
    "publication_director": 200,
    "dpo_name": 200,
    "dpo_email": 254,
    "dpo_address": 300,
    "legal_extra": LONG_TEXT,
    "privacy_extra": LONG_TEXT,
}
MULTILINE = frozenset({"audit_results", "derogations", "legal_extra", "privacy_extra"})


@dataclasses.dataclass(frozen=True)
class LegalTexts:
    """The parts a tenant's administrators write; every text is stored as typed and shown escaped."""

    conformance: str = DEFAULT_CONFORMANCE
    audit_date: datetime.date | None = None
    statement_date: datetime.date | None = None  # set when the administrators save the page
    audit_results: str = ""
    derogations: str = ""
    publication_director: str = ""
    dpo_name: str = ""
    dpo_email: str = ""
    dpo_address: str = ""
    legal_extra: str = ""
    privacy_extra: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("audit_date", "statement_date"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: Any) -> LegalTexts:
        """From the stored setting; anything unreadable (another version, a hand edit) is left out."""
        if not isinstance(data, dict):
            return cls()
        values: dict[str, Any] = {
            key: str(data[key])[:limit] for key, limit in LIMITS.items() if isinstance(data.get(key), str)
        }
        if data.get("conformance") in CONFORMANCE:
            values["conformance"] = data["conformance"]
        for key in ("audit_date", "statement_date"):
            values[key] = parse_date(data.get(key))
        return cls(**values)

    @property
    def dpo_set(self) -> bool:
        return bool(self.dpo_name or self.dpo_email)


def parse_date(value: Any) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def paragraphs(text: str) -> list[str]:
    """A multi-line text as paragraphs: one per blank-line-separated block, single line breaks kept as
    spaces (the template escapes each)."""
    blocks = [" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]


async def read_texts(session: AsyncSession) -> LegalTexts:
    """The tenant's texts (the session is scoped to the tenant); defaults before any is written."""
    return LegalTexts.from_json(await session.scalar(select(Setting.value).where(Setting.key == SETTING_KEY)))


def default_director(tenant: TenantRef) -> str:
    """Who directs the publication of a council's site unless its administrators say otherwise."""
    if tenant.kind == "commune":
        return _("the mayor of %(name)s") % {"name": tenant.name}
    if tenant.kind == "departement":
        return _("the president of the departmental council of %(name)s") % {"name": tenant.name}
    return _("the president of %(name)s") % {"name": tenant.name}


def conformance_labels() -> dict[str, str]:
    return {
        "none": _("not compliant"),
        "partial": _("partially compliant"),
        "full": _("fully compliant"),
    }


@dataclasses.dataclass(frozen=True)
class Retention:
    what: str
    how_long: str


def _days(delta: datetime.timedelta) -> int:
    return int(delta.total_seconds() // 86400)


def retention_periods(settings: Settings) -> list[Retention]:
    """How long data is kept, from what the code applies (settings, constants, the modules' manifests),
    not from prose."""
    return [*_core_periods(settings), *_module_periods()]


def _module_periods() -> list[Retention]:
    """What each installed service module deletes after a while, as its manifest declares (the data of
    a module switched off is purged all the same)."""
    return [
        Retention(str(kept.what), _("%(days)d days, then deleted every day") % {"days": kept.days})
        for module in registry.installed_modules().values()
        for kept in module.retention
    ]


def _core_periods(settings: Settings) -> list[Retention]:
    invitation = _days(TOKEN_LIFETIMES["invitation"])
    verify_hours = int(TOKEN_LIFETIMES["verify_email"].total_seconds() // 3600)
    longest_session = max(absolute for _idle, absolute in DEFAULT_TIMEOUTS.values())
    return [
        Retention(
            _(
                "Audit log (sign-ins, changes of roles, reading and changing the record of a person helped, exports)"
            ),
            _("%(days)d days, then deleted every day") % {"days": settings.audit_retention_days},
        ),
        Retention(
            _("Accounts, requests for help, appointments and visit reports"),
            _(
                "as long as the account or the service is in use; deleted with all the portal's data %(days)d days after the local authority leaves the platform"
            )
            % {"days": _days(DEFAULT_GRACE)},
        ),
        Retention(
            _("Links sent by e-mail (invitation, address check, sign-in, new password)"),
            _("an invitation is valid %(days)d days, an address check %(hours)d hours, the others less")
            % {"days": invitation, "hours": verify_hours},
        ),
        Retention(
            _("Sign-in sessions"),
            _("%(days)d days at most, less for staff and after inactivity")
            % {"days": max(1, longest_session // 86400)},
        ),
    ]
