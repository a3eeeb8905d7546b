"""The words of the coordination pages (English msgids, translated through the catalogue)."""

from __future__ import annotations

import re

from bippop.aid.lifecycle import PAUSED
from bippop.modules.assembly import skill_labels as module_skill_labels
from bippop.web.i18n import _, ngettext


def status_labels() -> dict[str, str]:
    return {
        "open": _("Waiting for a volunteer"),
        "offered": _("Offered to volunteers"),
        "matched": _("Volunteer found"),
        "scheduled": _("Appointment set"),
        "done": _("Help given"),
        "reported": _("Visit reported"),
        "closed": _("Closed"),
        "cancelled": _("Cancelled"),
        "paused": _("Paused"),
    }


def created_as_labels() -> dict[str, str]:
    return {
        "beneficiary": _("By the person helped"),
        "relative": _("By a relative"),
        "partner": _("By a partner organisation"),
        "coordinator": _("By the town hall, on the phone"),
    }


def appointment_labels() -> dict[str, str]:
    return {
        "scheduled": _("Planned"),
        "done": _("Done"),
        "no_show": _("Nobody at home"),
        "cancelled": _("Cancelled"),
    }


def cancel_reason_labels() -> dict[str, str]:
    """The reasons the platform itself gives a cancelled appointment (people's own reasons are text)."""
    return {PAUSED: _("the regular visits are paused")}


OFFERED_NOTE = re.compile(r"(\d+) volunteers")
VETTING_NOTE = re.compile(r"level (\d+) < (\d+)")


def history_note(note: str | None) -> str:
    """A history entry's note in words: the lifecycle writes a few as codes (``3 volunteers``,
    ``recurring``, ``level 1 < 2``); any other note is what a person typed."""
    if not note:
        return ""
    if note == "recurring":
        return _("Regular visits")
    if found := OFFERED_NOTE.fullmatch(note):
        count = int(found.group(1))
        return ngettext("Offered to %(num)d volunteer", "Offered to %(num)d volunteers", count) % {
            "num": count
        }
    if found := VETTING_NOTE.fullmatch(note):
        return _("Vetting level %(has)s, this help needs level %(needs)s") % {
            "has": found.group(1),
            "needs": found.group(2),
        }
    return note


def mood_labels() -> dict[str, str]:
    return {
        "good": _("In good spirits"),
        "fair": _("All right"),
        "low": _("Low"),
        "worrying": _("Worrying"),
    }


def warning_labels() -> dict[str, str]:
    return {
        "fall": _("A fall"),
        "not_eating": _("Not eating properly"),
        "low_mood": _("Low mood"),
        "unmet_need": _("A need nobody meets"),
        "other": _("Something else"),
    }


def channel_labels() -> dict[str, str]:
    return {
        "email": _("E-mail"),
        "sms": _("Text message (SMS)"),
        "voice": _("Phone call (automated message)"),
        "coordinator": _("The coordinator phones them (no internet)"),
    }


def weekday_labels() -> list[str]:
    return [
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    ]


def vetting_labels() -> dict[int, str]:
    return {
        0: _("Not checked yet: only for help that needs no check"),
        1: _("Identity checked"),
        2: _("Fully vetted: interview and criminal record extract"),
    }


def skill_labels() -> dict[str, str]:
    """The skills a volunteer may have: those the installed modules' matching asks for, named by them."""
    return module_skill_labels()


def language_labels() -> dict[str, str]:
    return {
        "fr": _("French"),
        "en": _("English"),
        "ar": _("Arabic"),
        "es": _("Spanish"),
        "pt": _("Portuguese"),
        "it": _("Italian"),
        "de": _("German"),
        "tr": _("Turkish"),
        "ro": _("Romanian"),
        "pl": _("Polish"),
        "lsf": _("French Sign Language"),
    }


def task_labels() -> dict[str, tuple[str, str]]:
    """kind → (what happened, what to do)."""
    return {
        "call_person": (
            _("Phone the person"),
            _(
                "Call them: they have no internet, or visits found nobody. Note what they say in the request's messages."
            ),
        ),
        "warning_sign": (
            _("Warning sign in a visit report"),
            _("Read the report and check on the person today."),
        ),
        "vetting_lost": (
            _("A volunteer is no longer vetted enough for a request"),
            _("Decide: renew their vetting, or take them off the request and find another volunteer."),
        ),
        "concern": (
            _("A concern was reported"),
            _("Read the concern and act on it, then mark it handled."),
        ),
        "unmatched": (
            _("Nobody has answered a request"),
            _("Phone volunteers you know, or offer the request to more of them."),
        ),
    }


def done_messages() -> dict[str, str]:
    return {
        "created": _("The request is recorded. Now find a volunteer for it below."),
        "assign": _("The volunteer is matched with the request. They and the person helped are told."),
        "offer": _("The request is offered: the volunteers find it in their next digest."),
        "schedule": _("The appointment is set. The volunteer and the person helped are told."),
        "series": _("The regular visits are set. The volunteer and the person helped are told."),
        "reassign": _("The volunteer is taken off the request, which is open again."),
        "cancel": _("The request is cancelled. Those concerned are told."),
        "close": _("The request is closed."),
        "pause": _("The regular visits are paused."),
        "resume": _("The regular visits have resumed."),
        "message": _("Your message is sent."),
    }
