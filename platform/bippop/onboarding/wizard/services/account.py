"""Step 2: the administrator's account (name, e-mail, password, the statement that they act for the
collectivity), the 6-digit code that proves the address (HMAC-hashed, 15 minutes, 5 tries, re-sending
rate-limited, mailed with a link that resumes the sign-up elsewhere), then the two-step sign-in set-up
(a TOTP secret sealed in the sign-up, confirmed by a first code)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from typing import Any

from bippop import clock
from bippop.accounts import mfa, passwords
from bippop.accounts.services.links import looks_like_email, normalise_email
from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services import StepOutcome, WizardCaller
from bippop.onboarding.wizard.store import save_answer, touch
from bippop.outbox.platform_mail import queue_platform_email
from bippop.tenants.urls import public_url
from bippop.web.forms import first_text, form_problems
from bippop.web.i18n import _

CODE_LIFETIME = datetime.timedelta(minutes=15)
CODE_ATTEMPTS = 5


def code_hash(signup: Signup, code: str, secret_key: str) -> str:
    # Keyed: six digits are found from a bare hash in a blink.
    return hmac.new(secret_key.encode(), f"{signup.id}:{code}".encode(), hashlib.sha256).hexdigest()


def account_problems(form: dict[str, str], signup: Signup) -> dict[str, str]:
    collectivity = (signup.answers.get("collectivity") or {}).get("name", "")
    errors = form_problems({k: v for k, v in form.items() if k != "password"})
    if not 2 <= len(form["display_name"]) <= 120:
        errors.setdefault("display_name", _("Enter your first and last name."))
    if not looks_like_email(form["email"]):
        errors.setdefault("email", _("Enter an e-mail address like name@example.fr."))
    if form["password"] or not signup.password_hash:
        problems = passwords.password_problems(
            form["password"], [form["display_name"], form["email"], collectivity]
        )
        if problems:
            errors["password"] = problems[0].message
    if form["statement"] != "yes":
        errors["statement"] = _(
            "Tick this box: only someone acting for the collectivity may create its portal."
        )
    return errors


async def save_account(
    session: Any, caller: WizardCaller, signup: Signup, data: dict[str, Any]
) -> StepOutcome:
    form = {key: first_text(data, key).strip() for key in ("display_name", "email", "statement")}
    form["password"] = first_text(data, "password")
    values = {k: v for k, v in form.items() if k != "password"}
    errors = account_problems(form, signup)
    if errors:
        return StepOutcome.refused(errors, values)
    email = normalise_email(form["email"])
    if form["password"]:
        signup.password_hash = await passwords.hash_password_off_loop(form["password"])
    if email != signup.email:
        signup.email = email
        signup.email_verified_at = None
        signup.email_code_hash = None
        signup.step_done = min(signup.step_done, 1)
    save_answer(signup, "account", {"display_name": " ".join(form["display_name"].split()), "email": email})
    outcome = StepOutcome()
    if signup.email_verified_at is None and signup.email_code_hash is None:
        sent = await send_code(session, caller, signup)
        if not sent.done:
            sent.values = values
            return sent
        outcome.message_ids = sent.message_ids
    return outcome


async def send_code(session: Any, caller: WizardCaller, signup: Signup) -> StepOutcome:
    """A new code for the sign-up's address (the older one stops working), mailed with the resume link."""
    assert signup.email is not None
    if refused := await caller.hit("signup_code", signup.email):
        return StepOutcome.refused({"form": refused}, {}, status=429)
    code = f"{secrets.randbelow(10**6):06d}"
    signup.email_code_hash = code_hash(signup, code, caller.settings.effective_secret_key())
    signup.email_code_expires_at = clock.now() + CODE_LIFETIME
    signup.email_code_attempts = 0
    touch(signup)
    lines = [
        _("Hello,"),
        "",
        _("Your code to confirm your e-mail address on Bip Pop: %(code)s") % {"code": code},
        _("It works for 15 minutes."),
    ]
    if caller.secret:
        link = public_url(f"/creation/reprendre/{caller.secret}", caller.settings)
        lines += ["", _("To continue creating your portal from another computer, open this link:"), link]
    lines += ["", _("If you did not ask for this, you can ignore this message."), "", "— Bip Pop"]
    message = queue_platform_email(
        session,
        purpose="signup_code",
        recipient=signup.email,
        subject=_("Your Bip Pop confirmation code"),
        body="\n".join(lines),
    )
    return StepOutcome(message_ids=[message.id])


async def check_code(caller: WizardCaller, signup: Signup, data: dict[str, Any]) -> StepOutcome:
    code = "".join(ch for ch in first_text(data, "code") if ch.isdigit())
    if refused := await caller.hit("signup_code_check", signup.email):
        return StepOutcome.refused({"code": refused}, {}, status=429)
    expired = signup.email_code_expires_at is None or signup.email_code_expires_at <= clock.now()
    if signup.email_code_hash is None or expired:
        return StepOutcome.refused({"code": _("This code has expired: ask for a new one below.")}, {})
    if signup.email_code_attempts >= CODE_ATTEMPTS:
        return StepOutcome.refused({"code": _("Too many wrong codes: ask for a new one below.")}, {})
    wanted = code_hash(signup, code, caller.settings.effective_secret_key())
    if len(code) != 6 or not hmac.compare_digest(wanted, signup.email_code_hash):
        signup.email_code_attempts += 1
        return StepOutcome.refused(
            {"code": _("This code is not the one we sent. Check the latest e-mail.")}, {}
        )
    signup.email_verified_at = clock.now()
    signup.email_code_hash = None
    touch(signup)
    return StepOutcome()


def totp_secret(signup: Signup, secret_key: str) -> str:
    """The sign-up's TOTP secret in clear (made at the first visit), to show with its QR code."""
    if signup.totp_secret is None:
        signup.totp_secret = mfa.seal(mfa.new_secret(), secret_key)
        touch(signup)
    return mfa.unseal(signup.totp_secret, secret_key)


def confirm_totp(signup: Signup, data: dict[str, Any], secret_key: str) -> StepOutcome:
    if signup.totp_secret is None:
        return StepOutcome.refused({"code": _("Scan the QR code first.")}, {})
    step = mfa.code_step(signup.totp_secret, first_text(data, "code"), secret_key, clock.seconds())
    if step is None:
        return StepOutcome.refused(
            {
                "code": _(
                    "This code is not right. Check the phone's time and type the code the app shows now."
                )
            },
            {},
        )
    signup.totp_confirmed_at = clock.now()
    save_answer(signup, "totp_step", step, step=2)
    return StepOutcome()


def provisioning_uri(signup: Signup, secret: str) -> str:
    account = signup.email or "admin"
    name = (signup.answers.get("collectivity") or {}).get("name", "")
    return mfa.provisioning_uri(secret, account, name)
