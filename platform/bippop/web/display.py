"""Display preferences any visitor may switch on and off, signed in or not: high contrast and large
text. Kept in a cookie for a year (no account needed, nothing stored on the server), read by the
layout, which puts one class per choice on ``<html>`` (``display-contrast``, ``display-large``) for
base.css to act on. Works without JavaScript: ``/affichage`` is a plain form."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DISPLAY_COOKIE = "bippop_display"
COOKIE_SECONDS = 365 * 24 * 3600
CHOICES = ("contrast", "large")  # in the order the cookie stores them


def display_choices(cookies: Mapping[str, str]) -> frozenset[str]:
    """The choices the visitor's cookie holds; anything else in it is ignored."""
    raw = cookies.get(DISPLAY_COOKIE) or ""
    return frozenset(part for part in raw.split(".") if part in CHOICES)


def cookie_value(chosen: Iterable[str]) -> str:
    """What the cookie holds for these choices ("" when none: the cookie is then removed)."""
    wanted = set(chosen)
    return ".".join(choice for choice in CHOICES if choice in wanted)


def html_classes(chosen: frozenset[str]) -> str:
    return " ".join(f"display-{choice}" for choice in CHOICES if choice in chosen)
