"""Imports every module that declares tables, so that both metadata are complete (migrations' checks,
tests, exports). It lives at the top of the layers because it names every domain; `db` stays below
them all."""

from __future__ import annotations


def load_all_models() -> None:
    import bippop.accounts.models
    import bippop.accounts.staff_models
    import bippop.aid.models
    import bippop.outbox.models
    import bippop.tenants.models
    import bippop.tenants.tenant_settings  # noqa: F401
    from bippop.modules.registry import installed_modules

    installed_modules()  # each module's package imports its own tables
