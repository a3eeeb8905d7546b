"""The wizard's steps, their addresses, and where a sign-up must go next: a step is reachable only once
the ones before it are done; a sign-up no longer a draft goes to its progress page."""

from __future__ import annotations

import dataclasses

from bippop.onboarding.models import Signup
from bippop.web.i18n import _

PREFIX = "/creation"
PROGRESS = f"{PREFIX}/progression"


@dataclasses.dataclass(frozen=True)
class Step:
    number: int
    key: str  # the answers' key, and the template's name
    path: str

    @property
    def title(self) -> str:
        return {
            "collectivity": _("Your collectivity"),
            "account": _("Your administrator account"),
            "address": _("Your portal's address"),
            "branding": _("Appearance"),
            "modules": _("Services offered"),
            "billing": _("Plan and billing"),
            "confirm": _("Confirmation"),
        }[self.key]


STEPS = (
    Step(1, "collectivity", f"{PREFIX}/collectivite"),
    Step(2, "account", f"{PREFIX}/compte"),
    Step(3, "address", f"{PREFIX}/adresse"),
    Step(4, "branding", f"{PREFIX}/apparence"),
    Step(5, "modules", f"{PREFIX}/services"),
    Step(6, "billing", f"{PREFIX}/facturation"),
    Step(7, "confirm", f"{PREFIX}/confirmation"),
)
BY_KEY = {step.key: step for step in STEPS}
EMAIL_CODE = f"{PREFIX}/compte/code"
TOTP = f"{PREFIX}/compte/double-authentification"


def account_next(signup: Signup) -> str | None:
    """Within step 2: the part still to do (the form, the e-mail code, the two-step set-up), or None."""
    if not signup.answers.get("account") or not signup.password_hash:
        return BY_KEY["account"].path
    if signup.email_verified_at is None:
        return EMAIL_CODE
    if signup.totp_confirmed_at is None:
        return TOTP
    return None


ANSWER_OF = {1: "collectivity", 3: "address", 4: "branding", 5: "modules", 6: "billing"}


def steps_done(signup: Signup) -> int:
    """How many steps, from the first, hold their answers (step 2: the account, its e-mail checked and
    two-step sign-in set up): what ``step_done`` records after each change."""
    done = 0
    for number in range(1, len(STEPS)):
        complete = (
            account_next(signup) is None if number == 2 else bool(signup.answers.get(ANSWER_OF[number]))
        )
        if not complete:
            break
        done = number
    return done


def first_missing(signup: Signup | None) -> str:
    """The page a sign-up must see now: its first step not done (or its progress once submitted)."""
    if signup is None:
        return STEPS[0].path
    if signup.status != "draft":
        return PROGRESS
    if signup.step_done < 1:
        return STEPS[0].path
    if signup.step_done < 2:
        return account_next(signup) or BY_KEY["address"].path
    return STEPS[min(signup.step_done, len(STEPS) - 1)].path


def reachable(signup: Signup | None, number: int) -> bool:
    """Whether step ``number`` may be shown: a draft whose steps before it are done."""
    if number == 1:
        return signup is None or signup.status == "draft"
    return signup is not None and signup.status == "draft" and signup.step_done >= number - 1
