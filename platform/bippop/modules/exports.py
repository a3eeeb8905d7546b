"""A module's export as a file for a spreadsheet: CSV, ``;``-separated, UTF-8 with a byte-order mark (what
French spreadsheets expect), each download recorded in the audit log (it holds personal data)."""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts import audit
from bippop.modules.contract import Export, ModuleManifest

# A cell a spreadsheet would run as a formula (typed by anyone: an event's title, a name) is kept as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([as_cell(h) for h in header])
    writer.writerows([as_cell(v) for v in row] for row in rows)
    return "\ufeff" + buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class ExportFile:
    filename: str
    body: str


async def export_file(
    session: AsyncSession, manifest: ModuleManifest, export: Export, *, actor_id: uuid.UUID
) -> ExportFile:
    """The file, and its download in the audit log (the caller commits)."""
    rows = list(await export.rows(session))
    audit.record(
        session,
        "module_export",
        actor_id=actor_id,
        details={"module": manifest.slug, "export": export.key, "rows": len(rows)},
    )
    body = csv_text([str(c) for c in export.columns], rows)
    return ExportFile(f"{manifest.slug}-{export.key}.csv", body)
