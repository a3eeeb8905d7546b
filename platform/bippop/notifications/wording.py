"""What the messages say: the titles and details of each purpose (English msgids; French in the
catalogue), and who, where and when in words fit for a message that names no address."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bippop.accounts.models import Person
from bippop.config import Settings
from bippop.tenants.context import TenantRef
from bippop.tenants.urls import tenant_url
from bippop.web.i18n import LOCALES, _, current_locale

PARIS = ZoneInfo("Europe/Paris")


# Texts (English msgids; French in the catalogue) -----------------------------------------


class ModulePurpose(Protocol):
    """What a service module says for one of its purposes (a ``modules.contract.Notice``)."""

    @property
    def title(self) -> object: ...  # str() gives the text in the current language

    @property
    def detail(self) -> object: ...

    @property
    def path(self) -> str | None: ...

    @property
    def see(self) -> object | None: ...


# The purposes the installed service modules bring (``modules.assembly.prepare``).
MODULE_PURPOSES: dict[str, ModulePurpose] = {}


def use_module_purposes(purposes: Mapping[str, ModulePurpose]) -> None:
    clash = set(purposes) & set(core_titles())
    if clash:
        raise ValueError(f"purposes of the core: {sorted(clash)}")
    MODULE_PURPOSES.clear()
    MODULE_PURPOSES.update(purposes)


def titles() -> dict[str, str]:
    """Per purpose, the news in a few words: e-mail subject, first line of a text or a call."""
    return {**{p: str(m.title) for p, m in MODULE_PURPOSES.items()}, **core_titles()}


def details() -> dict[str, str]:
    """Per purpose, what it means and what to do (e-mail and call)."""
    return {**{p: str(m.detail) for p, m in MODULE_PURPOSES.items()}, **core_details()}


def core_titles() -> dict[str, str]:
    return {
        "request_created_for_you": _("A request for help was made for you"),
        "request_matched": _("A volunteer will help you"),
        "request_assigned": _("A request for help is waiting for you"),
        "appointment_scheduled": _("An appointment has been set"),
        "appointment_reminder": _("Reminder of your appointment"),
        "request_cancelled": _("A request for help was cancelled"),
        "request_reopened": _("We are looking for another volunteer"),
        "request_released": _("You are no longer matched with a request"),
        "series_paused": _("Regular visits paused"),
        "series_resumed": _("Regular visits resumed"),
        "feedback_wanted": _("How did it go?"),
        "request_message": _("A new message about your request"),
        "vetting_expiring": _("Your vetting ends soon"),
    }


def core_details() -> dict[str, str]:
    return {
        "request_created_for_you": _(
            "Someone asked for help on your behalf. You can follow the request on your page."
        ),
        "request_matched": _("A volunteer has answered your request. You will be told when a date is set."),
        "request_assigned": _(
            "The coordinator has matched you with a request. Please agree on a date with the person."
        ),
        "appointment_scheduled": _("The date has been set."),
        "appointment_reminder": _("This is a reminder of the next appointment."),
        "request_cancelled": _("This request has been cancelled. Thank you for your understanding."),
        "request_reopened": _(
            "The volunteer can no longer come. We are looking for someone else and will let you know."
        ),
        "request_released": _("You are no longer matched with this request. Thank you for your help."),
        "series_paused": _("The regular visits are paused for now. They can start again at any time."),
        "series_resumed": _("The regular visits start again."),
        "feedback_wanted": _("Tell us in a few words how it went: it helps us do better."),
        "request_message": _("Someone wrote to you about this request. Read it and answer on the platform."),
        "vetting_expiring": _(
            "Your vetting by the commune ends in less than a month. Ask your coordinator to renew it, so that you can keep answering the requests that need it."
        ),
    }


def default_title() -> str:
    return _("News about your request")


def sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


# Who, where, when ---------------------------------------------------------------------------


def first_name(display_name: str | None) -> str:
    parts = (display_name or "").split()
    return parts[0] if parts else ""


def area_of(person: Person | None, tenant: TenantRef | None) -> str:
    """Where, without the address: the commune (its postcode), never the street."""
    postcode = person.postcode if person is not None else None
    commune = tenant.name if tenant is not None and tenant.kind == "commune" else None
    if commune and postcode:
        return f"{commune} ({postcode})"
    return commune or postcode or (tenant.name if tenant is not None else "")


def format_when(moment: datetime.datetime, *, short: bool = False) -> str:
    """In Paris time and the current language: « mardi 3 mars, 14:30 » (``short``: « mar. 3 mars 14:30 »)."""
    pattern = "EEE d MMM HH:mm" if short else "EEEE d MMMM, HH:mm"
    return format_datetime(moment.astimezone(PARIS), pattern, locale=current_locale.get())


def portal_url(settings: Settings, tenant: TenantRef | None) -> str:
    """The tenant's portal on its registered address, for links in messages: the same from a page or
    a job (its custom domain when it has one)."""
    return tenant_url(tenant, "", settings) if tenant is not None else ""


@contextmanager
def speaking(locale: str | None) -> Iterator[None]:
    token = current_locale.set(locale if locale in LOCALES else "fr")
    try:
        yield
    finally:
        current_locale.reset(token)
