"""The help-request lifecycle: one state machine for every module.

    open ──offer──▶ offered ──pop / assign──▶ matched ──schedule──▶ scheduled ──done──▶ done
      ▲                │                         │                    │   ▲              │
      └──withdraw / reassign / vetting lost ─────┴────────────────────┘   │           report
                                                                pause ──▶ paused          ▼
    any of open…paused ──cancel (with a reason)──▶ cancelled      resume ─┘           reported
                                                                              feedback / close ▼
                                                                                          closed

Every change goes through ``transition()``, which refuses a move the table does not allow,
records a ``RequestEvent`` and an audit event, and returns what must be announced after commit; a move
to the same state that changes nothing (the same appointment set twice) records nothing.
Popping is race-free: one conditional UPDATE decides, so of two volunteers popping in the same
second exactly one wins and the other is told kindly. A request that closes or is cancelled takes its
future appointments with it. "Now" and "today" come from ``bippop.clock`` (or the ``now`` given).

One module per part of the journey, re-exported here (callers write ``lifecycle.pop(...)``):
``machine`` (the table, ``transition()``, ``Outcome``, coordinators' tasks), ``matches`` (a bip, offers,
pop and assign, vetting), ``appointments`` (visits, series, pause and resume), ``visits`` (done,
no-shows, reports, feedback) and ``endings`` (cancel, release, close).
"""

from __future__ import annotations

from bippop.aid.lifecycle.appointments import (
    cancel_future,
    extend_series,
    pause,
    resume,
    schedule,
    schedule_series,
    series_dates,
)
from bippop.aid.lifecycle.endings import cancel, close, release
from bippop.aid.lifecycle.machine import (
    ACTIVE,
    NO_SHOW_LIMIT,
    PAUSED,
    SERIES_HORIZON_DAYS,
    TRANSITIONS,
    WITH_VOLUNTEER,
    AlreadyTaken,
    LifecycleError,
    Outcome,
    add_task,
    allowed,
    manifest_of,
    now_utc,
    transition,
)
from bippop.aid.lifecycle.matches import (
    assign,
    create_request,
    eligibility_problem,
    live_mandate,
    offer,
    pop,
    vetting_changed,
)
from bippop.aid.lifecycle.visits import complete, give_feedback, report

__all__ = [
    "ACTIVE",
    "NO_SHOW_LIMIT",
    "PAUSED",
    "SERIES_HORIZON_DAYS",
    "TRANSITIONS",
    "WITH_VOLUNTEER",
    "AlreadyTaken",
    "LifecycleError",
    "Outcome",
    "add_task",
    "allowed",
    "assign",
    "cancel",
    "cancel_future",
    "close",
    "complete",
    "create_request",
    "eligibility_problem",
    "extend_series",
    "give_feedback",
    "live_mandate",
    "manifest_of",
    "now_utc",
    "offer",
    "pause",
    "pop",
    "release",
    "report",
    "resume",
    "schedule",
    "schedule_series",
    "series_dates",
    "transition",
    "vetting_changed",
]
