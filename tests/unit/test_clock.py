"""The one clock: aware UTC moments, the Paris day, and a process-wide clock a test can move."""

from __future__ import annotations

import datetime
import threading
import time

from bippop import clock
from bippop.aid import events, lifecycle
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
