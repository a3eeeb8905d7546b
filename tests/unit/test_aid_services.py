"""Help requests keep one path per use case (issue 10): the page files parse, call one service and
render; creating a request, posting a message and writing audit records happen in ``aid/services``."""

from __future__ import annotations

import ast
from pathlib import Path

AID = Path(__file__).resolve().parents[2] / "platform" / "bippop" / "aid"
PAGES = sorted([*AID.joinpath("coordination").glob("*.py"), *AID.joinpath("portal").glob("*.py")])


def calls(path: Path) -> set[str]:
    """Every called name in ``path``, as written (``lifecycle.create_request``, ``RequestMessage``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            found.add(ast.unparse(node.func))
    return found


def callers(name: str) -> list[str]:
    return sorted(
        path.relative_to(AID).as_posix()
        for path in AID.rglob("*.py")
        if any(c.endswith(name) for c in calls(path))
    )


def test_a_request_is_created_offered_and_announced_in_one_place() -> None:
    assert callers("create_request") == ["services/requests.py"]
    assert callers("offer_to_best") == ["services/requests.py"]


def test_a_message_on_a_request_is_written_in_one_place() -> None:
    assert callers("RequestMessage") == ["services/messages.py"]


def test_page_files_leave_audit_records_and_outbox_rows_to_the_services() -> None:
    assert PAGES, "the coordination and portal packages were not found"
    for path in PAGES:
        made = calls(path)
        assert "audit.record" not in made, path.name
        assert "notify_all" not in made, path.name  # outbox rows come from a service's outcome


def test_the_split_page_files_stay_short() -> None:
    longest = max(PAGES, key=lambda p: len(p.read_text(encoding="utf-8").splitlines()))
    assert len(longest.read_text(encoding="utf-8").splitlines()) <= 400, longest.name
