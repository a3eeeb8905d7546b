"""Console pages: chorus (to be built)."""

from __future__ import annotations

from typing import Any

CONTROLLERS: list[Any] = []
