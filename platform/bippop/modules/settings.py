"""A module's settings for one tenant (declared in its manifest as typed fields with a default), kept as
one JSON value per module in the tenant's ``settings`` table (``module.<slug>``). Reading gives every
setting, the defaults filled in; saving checks the form like a request form, with a message next to
each field, and keeps nothing when one is wrong."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.modules.contract import ModuleManifest, validate_fields
from bippop.tenants.tenant_settings import Setting


def setting_key(manifest: ModuleManifest) -> str:
    return f"module.{manifest.slug}"


def with_defaults(manifest: ModuleManifest, stored: Any) -> dict[str, Any]:
    """Every declared setting: the stored value when it is still a known one, else the default."""
    saved = stored if isinstance(stored, dict) else {}
    return {field.name: saved.get(field.name, field.default) for field in manifest.settings}


async def module_settings(session: AsyncSession, manifest: ModuleManifest) -> dict[str, Any]:
    stored = await session.scalar(select(Setting.value).where(Setting.key == setting_key(manifest)))
    return with_defaults(manifest, stored)


async def save_module_settings(
    session: AsyncSession, manifest: ModuleManifest, form: Mapping[str, Any], *, actor_id: uuid.UUID
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check and keep the settings the form holds; returns (values, errors). With an error nothing is
    written (the caller shows the form again with what was typed)."""
    values, errors = validate_fields(manifest.settings, form)
    if errors:
        return values, errors
    before = await module_settings(session, manifest)
    after = with_defaults(manifest, values)
    statement = insert(Setting).values(key=setting_key(manifest), value=after)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Setting.key], set_={"value": statement.excluded.value}
        )
    )
    audit.record(
        session,
        "module_settings_changed",
        actor_id=actor_id,
        details={"module": manifest.slug, "before": before, "after": after},
    )
    return after, {}
