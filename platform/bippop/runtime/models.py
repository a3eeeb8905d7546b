"""Imports every module that declares tables, so that both metadata are complete (migrations' checks,
tests, exports). It lives at the top of the layers because it names every domain; `db` stays below
them all."""

from __future__ import annotations


def load_all_models() -> None:
    import bippop.accounts.models
    import bippop.aid.models
    import bippop.coop.models
    import bippop.notifications.models
    import bippop.tenants.models  # noqa: F401
