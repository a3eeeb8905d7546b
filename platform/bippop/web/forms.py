"""The form layer: what a field of a posted form may hold, checked in one place.

A NUL byte makes PostgreSQL refuse the row (a 500), and the other control characters — the bell,
escape, C1 codes, lone surrogates, non-characters — are never typed by a person: they come from a
bad paste or a probe. Each page's form helpers ask ``field_problem`` / ``form_problems`` here and show
the message next to the field. Multi-line fields (textareas) keep tabs and line breaks; single-line
fields do not (a line break in a name would also break a mail header).

``request_has_invisible_characters`` is the safety net behind them (``web.errors``): a request whose
form or query still holds such a character when something fails gets a calm 400 page, not a 500.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from litestar.params import URLEncodedBody
from litestar.types import Scope
from litestar.utils.scope.state import ScopeState

from bippop.web.i18n import _

# C0 controls but tab, line feed and carriage return; DEL and the C1 controls; lone surrogates (only
# reachable through odd decodings); the non-characters U+FDD0–U+FDEF and U+xFFFE/U+xFFFF of every plane.
_NON_CHARACTERS = "".join(
    f"{chr(plane + 0xFFFE)}{chr(plane + 0xFFFF)}" for plane in range(0, 0x110000, 0x10000)
)
_NEVER = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef" + _NON_CHARACTERS
INVISIBLE_IN_TEXT = re.compile(f"[{_NEVER}]")
# A line of its own: also the Unicode line and paragraph separators (a mail header refuses them).
INVISIBLE_IN_LINE = re.compile(f"[\t\n\r\u2028\u2029{_NEVER}]")
# Fields no person types: the CSRF middleware checks its own token.
UNCHECKED_FIELDS = frozenset({"_csrf_token"})


def invisible_character_message() -> str:
    return _(
        "This field contains an invisible character that is not allowed (often pasted by accident): type the text again."
    )


def has_invisible_characters(text: str, *, multiline: bool = False) -> bool:
    return (INVISIBLE_IN_TEXT if multiline else INVISIBLE_IN_LINE).search(text) is not None


def without_invisible_characters(text: str, *, multiline: bool = True) -> str:
    """``text`` with those characters removed: what a page shows back, and what is kept if a check was missed."""
    return (INVISIBLE_IN_TEXT if multiline else INVISIBLE_IN_LINE).sub("", text)


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)
    elif value is not None:
        yield str(value)


def field_problem(value: Any, *, multiline: bool = False) -> str | None:
    """The message to show next to a field holding ``value`` (one text, or the list of a repeated
    field), or None when it holds nothing that is refused."""
    if any(has_invisible_characters(text, multiline=multiline) for text in _texts(value)):
        return invisible_character_message()
    return None


def form_problems(data: Mapping[str, Any], *, multiline: Collection[str] = ()) -> dict[str, str]:
    """Field name → message for every field of ``data`` that holds a refused character; the names in
    ``multiline`` are the form's textareas."""
    problems: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(name, str) or name in UNCHECKED_FIELDS:
            continue
        problem = field_problem(value, multiline=name in multiline)
        if problem:
            problems[name] = problem
    return problems


def search_text(value: str, limit: int) -> str:
    """What a search box holds, without the characters refused here (a search keeps nothing, so they
    are just left out), trimmed, at most ``limit`` characters."""
    return without_invisible_characters(value, multiline=False).strip()[:limit]


def first_text(data: Mapping[str, Any], name: str) -> str:
    """One field's text: the first value of a field sent several times, "" when absent."""
    raw = data.get(name)
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else ""
    return "" if raw is None else str(raw)


def request_has_invisible_characters(scope: Scope) -> bool:
    """Whether the request's query or the form body it has sent (if read) holds a refused character
    (tabs and line breaks allowed: which fields are single-line is only known to the page)."""
    texts = [scope.get("query_string", b"")]
    body = ScopeState.from_scope(scope).body
    if isinstance(body, bytes) and _is_form(scope):
        texts.append(body)
    for raw in texts:
        for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if has_invisible_characters(name, multiline=True) or has_invisible_characters(
                value, multiline=True
            ):
                return True
    return False


def _is_form(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"
    return False


# A form post (application/x-www-form-urlencoded) as a dict; fields sent twice come as lists.
FormData = URLEncodedBody[dict[str, Any]]


def form_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """One string per field (a field sent twice keeps its first value), trimmed except passwords; the
    text as sent: ``form_problems`` names the fields holding an invisible character."""
    form: dict[str, str] = {}
    for key in data:
        text = first_text(data, key)
        form[key] = text if "password" in key else text.strip()
    return form


def field_values(data: Mapping[str, Any], name: str) -> list[str]:
    """Every value of a field sent several times (checkboxes): one string or a list of them."""
    raw = data.get(name)
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [str(item).strip() for item in items if str(item).strip()]


def parse_uuid(value: Any) -> uuid.UUID | None:
    """The id a field names, or None when it is not one."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
