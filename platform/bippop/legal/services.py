"""Saving what a tenant's administrators write on its legal pages: checked field by field, kept in the
tenant's ``settings`` table, audited in the same transaction."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bippop import clock
from bippop.accounts import audit
from bippop.legal.content import (
    CONFORMANCE,
    LIMITS,
    MULTILINE,
    SETTING_KEY,
    LegalTexts,
    parse_date,
    read_texts,
)
from bippop.tenants.tenant_settings import Setting
from bippop.web.forms import field_problem
from bippop.web.i18n import _

EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
AUDIT_ACTION = "legal_pages_changed"


@dataclasses.dataclass(frozen=True)
class LegalOutcome:
    texts: LegalTexts | None
    errors: dict[str, str]

    @property
    def done(self) -> bool:
        return self.texts is not None


def _checked(form: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name, limit in LIMITS.items():
        text = form.get(name, "")
        if problem := field_problem(text, multiline=name in MULTILINE):
            errors[name] = problem
        elif len(text) > limit:
            errors[name] = _("%(limit)d characters at most (this text has %(count)d).") % {
                "limit": limit,
                "count": len(text),
            }
        values[name] = text
    if form.get("conformance") not in CONFORMANCE:
        errors["conformance"] = _("Choose the state of compliance of the site.")
    values["conformance"] = form.get("conformance", "")
    raw_date = form.get("audit_date", "")
    values["audit_date"] = parse_date(raw_date)
    if raw_date and values["audit_date"] is None:
        errors["audit_date"] = _("Give the date of the audit as day/month/year, or leave it empty.")
    elif values["audit_date"] and values["audit_date"] > clock.today():  # type: ignore[operator]
        errors["audit_date"] = _("The date of the audit cannot be in the future.")
    email = str(values["dpo_email"])
    if email and "dpo_email" not in errors and not EMAIL.fullmatch(email):
        errors["dpo_email"] = _("Give an e-mail address such as dpo@mairie.fr, or leave it empty.")
    return values, errors


async def save_legal_texts(
    session: AsyncSession, form: Mapping[str, str], *, actor_id: uuid.UUID | None
) -> LegalOutcome:
    """Keep the texts when every field is right (nothing is written otherwise); the statement's date
    becomes today's. The audit event names the fields that changed, not what they say."""
    values, errors = _checked(form)
    if errors:
        return LegalOutcome(None, errors)
    before = await read_texts(session)
    texts = LegalTexts(**values, statement_date=clock.today())  # type: ignore[arg-type]
    stored = texts.to_json()
    statement = insert(Setting).values(key=SETTING_KEY, value=stored)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[Setting.key], set_={"value": stored})
    )
    changed = sorted(k for k, v in stored.items() if k != "statement_date" and before.to_json().get(k) != v)
    audit.record(session, AUDIT_ACTION, actor_id=actor_id, details={"changed": changed})
    return LegalOutcome(texts, {})
