"""notifications imports nothing of aid (issue 10, item 3): what a help request adds to the news, and the
coordinator's call for someone no message reaches, come from aid through two seams checked here — the
fallback registry (``notifications/unreachable.py``) and the settings the caller hands over."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bippop.config import Settings
from bippop.notifications import dispatch, unreachable

NOTIFICATIONS = Path(__file__).resolve().parents[2] / "platform" / "bippop" / "notifications"


class FakeSession:
    """What the seams read of a session: its ``info``."""

    def __init__(self, **info: Any) -> None:
        self.info = info


class Recorder:
    def __init__(self) -> None:
        self.reached: list[unreachable.Unreachable] = []
        self.keys: set[str] = set()

    def reach(self, session: Any, who: unreachable.Unreachable) -> None:
        self.reached.append(who)
        if who.dedupe_key:
            self.keys.add(who.dedupe_key)

    def planned(self, session: Any, dedupe_key: str) -> bool:
        return dedupe_key in self.keys


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    previous = unreachable.register(recorder)
    yield recorder
    unreachable.register(previous)


def test_the_registered_fallback_reaches_who_no_message_can(recorder: Recorder) -> None:
    session: Any = FakeSession()
    who = unreachable.Unreachable(uuid.uuid4(), "request_matched", uuid.uuid4(), dedupe_key="k:1")
    assert not unreachable.planned(session, "k:1")
    unreachable.reach_otherwise(session, who)
    assert recorder.reached == [who] and unreachable.planned(session, "k:1")


def test_without_a_fallback_nothing_is_planned_and_nothing_breaks() -> None:
    previous = unreachable.register(None)
    try:
        session: Any = FakeSession()
        unreachable.reach_otherwise(session, unreachable.Unreachable(uuid.uuid4(), "feedback_wanted"))
        assert unreachable.planned(session, "any") is False
    finally:
        unreachable.register(previous)


def test_the_settings_are_the_callers() -> None:
    given = Settings(env="test", base_domain="given.test")
    carried = Settings(env="test", base_domain="carried.test")
    page_session: Any = FakeSession(tenant=None, settings=carried)
    assert dispatch.context_for(page_session).settings is carried  # a page: the app's, on its session
    assert dispatch.context_for(page_session, given).settings is given  # a job: its resources'
    with pytest.raises(LookupError):
        dispatch.context_for(FakeSession(tenant=None))  # type: ignore[arg-type]  # never a second Settings


def test_notifications_reaches_for_no_settings_of_its_own() -> None:
    """The process resources build a Settings of their own: notifications' news must not ask for them."""
    for path in ("dispatch.py", "services.py", "unreachable.py", "wording.py"):
        tree = ast.parse((NOTIFICATIONS / path).read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not names & {"platform_resources", "get_settings"}, path
