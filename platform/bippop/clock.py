"""The one clock: every "now" of the platform comes from here, aware and in UTC.

Services and jobs take a ``Clock`` (or a moment read from one) instead of asking the system, so that a
test, a replay or a job catching up can set the time: ``clock.now()`` is an aware UTC datetime,
``clock.today()`` the calendar day in Paris (the councils' day), and calling the clock (or
``clock.seconds()``, what ``app.state.clock`` hands out) gives seconds since the epoch. Code that is
not given a clock uses the process's, ``current()``: the system's, unless ``use()`` installs another
(a test's hand-moved one). Nothing else reads the system's time (tests/unit/test_clock.py scans for it);
durations inside one process (timeouts, log timings, in-process caches) use ``time.monotonic``.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Iterator
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """The system's clock; a clock of another time overrides ``now`` only."""

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    def today(self) -> datetime.date:
        """The calendar day in Paris."""
        return self.now().astimezone(PARIS).date()

    def __call__(self) -> float:
        """Seconds since the epoch (a drop-in for ``time.time``)."""
        return self.now().timestamp()


SYSTEM = Clock()
_lock = threading.Lock()
_current: Clock = SYSTEM


def current() -> Clock:
    """The process's clock (worker threads included)."""
    return _current


@contextlib.contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the process's clock for the block (tests travelling in time, job replays)."""
    global _current
    with _lock:
        previous, _current = _current, clock
    try:
        yield clock
    finally:
        with _lock:
            _current = previous


def now() -> datetime.datetime:
    """Now, by the process's clock: aware, UTC."""
    return _current.now()


def today() -> datetime.date:
    """Today in Paris, by the process's clock."""
    return _current.today()


def seconds() -> float:
    """Seconds since the epoch, by the process's clock: for times other processes read too (expiry
    scores in Redis, ``app.state.clock``). A duration inside one process wants ``time.monotonic``."""
    return _current()


def paris_day(moment: datetime.datetime) -> datetime.date:
    """The calendar day in Paris of an aware moment."""
    return moment.astimezone(PARIS).date()
