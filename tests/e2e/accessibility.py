"""axe-core in the page, for every browser test: ``assert_accessible(page)`` fails on a serious or
critical violation, naming the page (and ``what`` was being checked) and the elements at fault."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

axe = Axe()


def serious_violations(page: Any) -> list[tuple[str, str, list[Any]]]:
    results = axe.run(page)
    return [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def assert_accessible(page: Any, what: str | None = None) -> None:
    """axe-core runs in the page: a context with JavaScript off is checked when it is on."""
    if getattr(page.context, "javascript_enabled", True) is False:
        return
    serious = serious_violations(page)
    assert not serious, (what or page.url, serious)
