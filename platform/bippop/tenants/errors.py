"""Errors of the tenancy core that a person can fix (kept import-light for the CLI)."""

from __future__ import annotations


class TenantError(ValueError):
    """A tenant operation refused for a reason a person can fix; ``field`` names the cause, ``code`` the
    reason (for pages that word it in the reader's language; the message itself is French)."""

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
