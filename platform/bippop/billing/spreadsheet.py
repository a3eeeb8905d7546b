"""Text cells written to a file a spreadsheet opens (CSV): a cell a spreadsheet would take for a
formula (« =HYPERLINK(…) », « +33… », « -1 », « @SUM(…) », or one starting with a tab or a carriage
return) is kept as text by a leading apostrophe. Names, service codes and engagement numbers come from
the public sign-up wizard: never trusted as they are."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text
