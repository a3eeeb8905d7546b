"""Imports every module that declares tables, so that both metadata are complete (migrations' checks,
tests, exports)."""

from __future__ import annotations


def load_all_models() -> None:
    import bippop.accounts.models
    import bippop.aid.models
    import bippop.coop.models
    import bippop.notifications.models
    import bippop.tenants.models  # noqa: F401
