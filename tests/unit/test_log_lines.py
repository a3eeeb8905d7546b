"""The log line's redaction and the terminal renderer (issue 13 made both cheaper: keep them right)."""

from __future__ import annotations

from bippop.observability import MASK, console_line, redact, redact_text


def test_addresses_phones_and_credentials_are_masked_plain_text_is_left_alone() -> None:
    assert redact_text("jeanne.dupont@example.fr a écrit") == f"{MASK} a écrit"
    assert redact_text("rappeler le 06 12 34 56 78") == f"rappeler le {MASK}"
    assert redact_text("+33 6 12 34 56 78") == MASK
    assert MASK in redact_text("postgresql://bippop:s3cret@db:5432/bippop")
    assert redact_text("request GET /requests/{request_id}") == "request GET /requests/{request_id}"
    assert redact_text("12 volunteers") == "12 volunteers"  # a number is not a phone


def test_every_value_but_the_platforms_own_goes_through_redaction() -> None:
    event = redact(
        None,
        "info",
        {"event": "sent to a@b.fr", "tenant": "alpha", "note": "06 12 34 56 78", "password": "x", "n": 3},
    )
    assert event == {"event": f"sent to {MASK}", "tenant": "alpha", "note": MASK, "password": MASK, "n": 3}


def test_the_terminal_line_is_time_level_event_then_the_rest_and_the_traceback_below() -> None:
    line = console_line(
        None,
        "info",
        {
            "timestamp": "2026-12-03T07:00:00Z",
            "level": "info",
            "event": "request",
            "route": "/",
            "status": 200,
        },
    )
    assert line == "2026-12-03T07:00:00Z [info] request route=/ status=200"
    failed = console_line(None, "error", {"level": "error", "event": "boom", "exception": "Traceback (…)"})
    assert failed.splitlines() == [" [error] boom", "Traceback (…)"]


def test_a_line_break_in_a_value_cannot_forge_a_line_of_its_own() -> None:
    line = console_line(
        None, "info", {"level": "info", "event": "request", "route": "/x\n2026 [error] forged"}
    )
    assert "\n" not in line and "route='/x\\n2026 [error] forged'" in line
