"""The accounts domain's use cases (one module each: ``sign_in``, ``sign_up``, ``link_use``, ``staff``,
``account_settings``, ``audit_log``), each answering an ``AccountOutcome``; and, re-exported here, the
building blocks they share (``links``: addresses, passwords checked, single-use links, their mails)."""

from bippop.accounts.services.links import (
    TOKEN_LIFETIMES,
    TokenCheck,
    authenticate,
    check_token,
    email_body,
    issue_token,
    looks_like_email,
    mail_link,
    normalise_email,
    now_utc,
    person_by_email,
    token_hash,
    token_problem_message,
)

__all__ = [
    "TOKEN_LIFETIMES",
    "TokenCheck",
    "authenticate",
    "check_token",
    "email_body",
    "issue_token",
    "looks_like_email",
    "mail_link",
    "normalise_email",
    "now_utc",
    "person_by_email",
    "token_hash",
    "token_problem_message",
]
