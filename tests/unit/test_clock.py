"""The one clock: aware UTC moments, the Paris day, and a process-wide clock a test can move."""

from __future__ import annotations

import ast
import datetime
import threading
import time
from pathlib import Path

from bippop import clock
from bippop.aid import lifecycle
from bippop_modules.events import registrations as events
from support import HandClock


def test_the_system_clock_is_aware_utc_and_agrees_with_time() -> None:
    moment = clock.SYSTEM.now()
    assert moment.tzinfo is not None and moment.utcoffset() == datetime.timedelta(0)
    assert abs(clock.SYSTEM() - time.time()) < 5  # a drop-in for time.time (app.state.clock)
    assert abs((clock.now() - moment).total_seconds()) < 5


def test_today_is_the_day_in_paris() -> None:
    # 23:30 UTC on New Year's Eve is already New Year's Day in Paris (UTC+1), and 22:30 UTC in June too.
    assert HandClock(datetime.datetime(2030, 12, 31, 23, 30, tzinfo=datetime.UTC)).today() == datetime.date(
        2031, 1, 1
    )
    assert HandClock(datetime.datetime(2031, 6, 30, 22, 30, tzinfo=datetime.UTC)).today() == datetime.date(
        2031, 7, 1
    )
    assert HandClock(datetime.datetime(2031, 6, 30, 21, 30, tzinfo=datetime.UTC)).today() == datetime.date(
        2031, 6, 30
    )
    assert clock.paris_day(datetime.datetime(2031, 3, 30, 22, 30, tzinfo=datetime.UTC)) == datetime.date(
        2031, 3, 31
    )


def test_a_hand_moved_clock_moves_only_when_told() -> None:
    hand = HandClock(datetime.datetime(2031, 1, 6, 8, 0, tzinfo=datetime.UTC))
    assert hand.now() == hand.now() == datetime.datetime(2031, 1, 6, 8, 0, tzinfo=datetime.UTC)
    assert hand.advance(days=1, hours=2) == datetime.datetime(2031, 1, 7, 10, 0, tzinfo=datetime.UTC)
    assert hand() == hand.now().timestamp()


def test_the_process_clock_is_installed_for_every_thread_and_restored() -> None:
    hand = HandClock(datetime.datetime(2031, 1, 6, 8, 0, tzinfo=datetime.UTC))
    seen: list[datetime.datetime] = []
    with clock.use(hand):
        assert clock.current() is hand and clock.now() == hand.at
        assert clock.today() == datetime.date(2031, 1, 6)
        # The services' defaults read it: a worker's job would see the same time.
        assert lifecycle.now_utc() == hand.at and events.now_utc() == hand.at
        thread = threading.Thread(target=lambda: seen.append(clock.now()))
        thread.start()
        thread.join()
        hand.advance(hours=1)
        assert lifecycle.now_utc() == datetime.datetime(2031, 1, 6, 9, 0, tzinfo=datetime.UTC)
    assert seen == [datetime.datetime(2031, 1, 6, 8, 0, tzinfo=datetime.UTC)]
    assert clock.current() is clock.SYSTEM
    assert abs((lifecycle.now_utc() - datetime.datetime.now(datetime.UTC)).total_seconds()) < 5


# The scan: nothing under platform/ (the core and the built-in modules) reads the system's time but
# bippop/clock.py. ---------------------------------------------------------------------------------

PLATFORM = Path(__file__).resolve().parents[2] / "platform"
SOURCES = (PLATFORM / "bippop", PLATFORM / "bippop_modules")
# "file: what it reads". Emptied under issue 10: keep it so (a new reader fails).
SYSTEM_TIME_ALLOWED: set[str] = set()


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def system_time_readers(tree: ast.AST) -> set[str]:
    """``datetime.now``/``utcnow``/``today``, ``date.today`` and ``time.time``/``time_ns``, called or handed
    over (``clock=time.time`` reads it later), however ``datetime`` was imported."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value.attr if isinstance(node.value, ast.Attribute) else dotted(node.value)
            if (node.attr in {"now", "utcnow", "today"} and owner in {"datetime", "date"}) or (
                node.attr in {"time", "time_ns"} and owner == "time"
            ):
                found.add(dotted(node))
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            found |= {f"time.{a.name}" for a in node.names if a.name in {"time", "time_ns"}}
    return found


def system_time_reads() -> set[str]:
    found = set()
    for path in sorted(p for source in SOURCES for p in source.rglob("*.py")):
        relative = path.relative_to(PLATFORM).as_posix()
        if relative != "bippop/clock.py" and "migrations" not in relative:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found |= {f"{relative}: {name}" for name in system_time_readers(tree)}
    return found


def test_only_the_clock_reads_the_system_time() -> None:
    found = system_time_reads()
    new, fixed = sorted(found - SYSTEM_TIME_ALLOWED), sorted(SYSTEM_TIME_ALLOWED - found)
    assert not new, f"read the time from bippop.clock (clock.now(), clock.today(), clock.seconds()): {new}"
    assert not fixed, f"gone from the code, delete from SYSTEM_TIME_ALLOWED: {fixed}"


def test_the_scan_sees_what_it_looks_for() -> None:
    # A scan that silently matched nothing would pass forever.
    planted = ast.parse(
        "import datetime as dt, time\nfrom datetime import date, datetime\nfrom time import time_ns as ns\n"
        "a = dt.datetime.now(dt.UTC)\nb = datetime.utcnow()\nc = date.today()\nd = dt.date.today()\n"
        "e = Store(clock=time.time)\n"
        "ok = (clock.now(), clock.today(), time.monotonic(), func.now(), dt.time(8, 0), self.now())\n"
    )
    assert system_time_readers(planted) == {
        "dt.datetime.now",
        "datetime.utcnow",
        "date.today",
        "dt.date.today",
        "time.time",
        "time.time_ns",
    }
    assert "bippop/clock.py" not in {name.split(":")[0] for name in system_time_reads()}
    assert all(len(list(source.rglob("*.py"))) > 5 for source in SOURCES)


def test_the_seconds_are_the_process_clocks() -> None:
    hand = HandClock(datetime.datetime(2031, 1, 6, 8, 0, tzinfo=datetime.UTC))
    with clock.use(hand):
        assert clock.seconds() == hand.at.timestamp()
    assert abs(clock.seconds() - time.time()) < 5
