"""The eight built-in service modules. Each manifest is registered under the ``bippop.modules`` entry
points in pyproject.toml, exactly as a third-party module would be."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
DONE = ("done", "reported", "closed")


def count_done(requests: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for r in requests if r["status"] in DONE)


def hours_done(requests: Sequence[Mapping[str, Any]]) -> float:
    return round(sum(r["duration_minutes"] for r in requests if r["status"] in DONE) / 60, 1)


def count_detail(field: str, value: Any) -> Any:
    def compute(requests: Sequence[Mapping[str, Any]]) -> int:
        return sum(1 for r in requests if r["details"].get(field) == value)

    return compute
