"""Invisible characters in form input: a NUL byte (which PostgreSQL refuses) or a bell in any field.

The forms are found the way a person finds them: each role opens every GET page of the route table
(path parameters filled with this module's own tenant's ids), and every ``<form>`` on it is read
(its inputs, textareas, selects, with the values the page gave them). Then each field in turn is
sent holding a NUL byte, and again a bell, the other fields as the page filled them. No answer may
be a 5xx. The pages people use most show the message next to the field, in French.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import html
import logging
import re
import secrets
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from sqlalchemy import update

from bippop.accounts import mfa
from bippop.accounts.models import AccountToken, Mandate, Person
from bippop.accounts.passwords import hash_password
from bippop.accounts.permissions import Requires, allowed
from bippop.accounts.staff_models import Staff
from bippop.aid.models import Appointment, Concern, CoordinatorTask, HelpRequest, RequestEvent
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from bippop_modules.events.models import Event
from support import BASE_DOMAIN, DEFAULT_PASSWORD, host, log_in, make_person, make_tenant, totp_now

SLUG = "invisibles"
NUL, BEL = "\x00", "\x07"
MESSAGE_FR = "Ce champ contient un caractère invisible non autorisé"
ROLES = ("anonymous", "beneficiary", "relative", "volunteer", "partner", "coordinator", "tenant_admin")
COOP_HOST = f"coop.{BASE_DOMAIN}"
Client = TestClient[Litestar]


# The tenant and what its pages show ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class World:
    tenant: TenantRef
    emails: dict[str, str]
    secrets: dict[str, str | None]
    ids: dict[str, list[str]]  # path parameter name → values to try


@pytest.fixture(scope="module")
def world(settings: Settings, resources: PlatformResources) -> World:
    tenant = make_tenant(settings, SLUG, "Invisibleville")
    near = {"latitude": 49.417, "longitude": 2.826}
    people: dict[str, uuid.UUID] = {}
    emails: dict[str, str] = {}
    totp: dict[str, str | None] = {}
    for role in ROLES[1:]:
        staff = role in ("coordinator", "tenant_admin")
        people[role], emails[role], totp[role] = make_person(
            resources, tenant, [role], totp=staff, name=f"Invisible {role}"
        )
    now = datetime.datetime.now(datetime.UTC)
    beneficiary, volunteer = people["beneficiary"], people["volunteer"]
    requests = {"open": uuid.uuid4(), "scheduled": uuid.uuid4(), "done": uuid.uuid4()}
    appointment_id, event_id = uuid.uuid4(), uuid.uuid4()
    concern_id, task_id, mandate_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    link_secrets = [secrets.token_urlsafe(32) for _ in range(2)]
    with resources.tenant_session(tenant) as session, session.begin():
        session.execute(update(Person).where(Person.id == beneficiary).values(phone="06 11 22 33 44", **near))
        session.execute(
            update(Person)
            .where(Person.id == volunteer)
            .values(vetting_level=2, skills=["reading_aloud", "walking_companion"], **near)
        )
        for status, request_id in requests.items():
            session.add(
                HelpRequest(
                    id=request_id,
                    module="reading" if status == "open" else "visits",
                    beneficiary_id=beneficiary,
                    created_by=beneficiary,
                    created_as="beneficiary",
                    status=status,
                    details={"frequency": "once"},
                    volunteer_id=None if status == "open" else volunteer,
                    **near,
                )
            )
        session.flush()
        for status, request_id in requests.items():
            session.add(RequestEvent(id=uuid.uuid4(), request_id=request_id, to_status=status))
        session.add(
            Appointment(
                id=appointment_id,
                request_id=requests["scheduled"],
                volunteer_id=volunteer,
                starts_at=now - datetime.timedelta(days=1),
                ends_at=now - datetime.timedelta(days=1, minutes=-45),
            )
        )
        session.add(
            Event(
                id=event_id,
                title="Loto des aînés",
                place="Salle des fêtes",
                starts_at=now + datetime.timedelta(days=10),
                ends_at=now + datetime.timedelta(days=10, hours=2),
                capacity=20,
            )
        )
        session.add(Concern(id=concern_id, reporter_id=beneficiary, body="Une inquiétude"))
        session.add(CoordinatorTask(id=task_id, kind="call_back", person_id=beneficiary))
        session.add(
            Mandate(
                id=mandate_id,
                relative_id=people["relative"],
                beneficiary_id=beneficiary,
                consent="written",
                recorded_by=people["coordinator"],
            )
        )
        for raw, purpose in zip(link_secrets, ("invitation", "reset_password"), strict=True):
            session.add(
                AccountToken(
                    id=uuid.uuid4(),
                    purpose=purpose,
                    token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                    person_id=None if purpose == "invitation" else beneficiary,
                    email=f"invited-{uuid.uuid4().hex[:6]}@example.org" if purpose == "invitation" else None,
                    roles=["volunteer"] if purpose == "invitation" else [],
                    expires_at=now + datetime.timedelta(days=2),
                )
            )
    ids = {
        "request_id": [str(r) for r in requests.values()],
        "appointment_id": [str(appointment_id)],
        "event_id": [str(event_id)],
        "person_id": [str(volunteer), str(beneficiary)],
        "concern_id": [str(concern_id)],
        "task_id": [str(task_id)],
        "mandate_id": [str(mandate_id)],
        "token": link_secrets,
        "slug": ["visits", "reading", "admin_help", "it_help", "walks", "errands", "senior_junior"],
    }
    return World(tenant, emails, totp, ids)


@pytest.fixture(scope="module")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="module")
def web(app: Litestar) -> Iterator[Client]:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}") as client:
        yield client


def _signed_in(web: Client, world: World, role: str) -> dict[str, str]:
    """The cookies of ``role`` signed in on the tenant (none for anonymous), the client left clean."""
    web.cookies.clear()
    if role != "anonymous":
        log_in(web, SLUG, world.emails[role], world.secrets[role])
    else:
        web.get("/connexion", headers=host(SLUG))
    cookies = dict(web.cookies.items())
    web.cookies.clear()
    return cookies


def _staff_signed_in(web: Client, resources: PlatformResources, settings: Settings) -> dict[str, str]:
    """A co-op administrator signed in on the co-op host, with the second factor."""
    email = f"invisible-staff-{uuid.uuid4().hex[:8]}@coop.example.org"
    with resources.admin_sessions()() as session, session.begin():
        staff = Staff(
            id=uuid.uuid4(),
            display_name="Invisible Staff",
            email=email,
            password_hash=hash_password(DEFAULT_PASSWORD),
            roles=["coop_admin"],
        )
        secret = mfa.start_enrollment(staff, settings.effective_secret_key())
        staff.totp_confirmed_at = datetime.datetime.now(datetime.UTC)
        session.add(staff)
    web.cookies.clear()
    web.get("/connexion", headers={"Host": COOP_HOST})
    token = str(web.cookies.get("csrftoken"))
    answer = web.post(
        "/connexion",
        data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token},
        headers={"Host": COOP_HOST},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    answer = web.post(
        "/connexion/code",
        data={"code": totp_now(secret), "_csrf_token": token},
        headers={"Host": COOP_HOST},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    cookies = dict(web.cookies.items())
    web.cookies.clear()
    return cookies


# Reading forms out of pages ------------------------------------------------------------------------


@dataclasses.dataclass
class FormField:
    name: str
    kind: str  # input type, "textarea" or "select"
    value: str
    sent: bool  # whether the browser sends it as the page left it (a checked box, a chosen option…)


@dataclasses.dataclass
class Form:
    method: str
    action: str
    fields: list[FormField]

    def defaults(self) -> list[tuple[str, str]]:
        return [(f.name, f.value) for f in self.fields if f.sent]

    def with_value(self, name: str, value: str) -> list[tuple[str, str]]:
        """What the browser sends with ``name`` holding ``value`` (its first value, for repeated names)."""
        return self.with_values({name: value})

    def with_values(self, values: dict[str, str]) -> list[tuple[str, str]]:
        sent, replaced = [], set()
        for field in self.fields:
            if field.name in values and field.name not in replaced:
                sent.append((field.name, values[field.name]))
                replaced.add(field.name)
            elif field.sent:
                sent.append((field.name, field.value))
        return sent


class FormReader(HTMLParser):
    """Every form of a page, with each field's name, kind and the value the page gives it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: FormField | None = None
        self._select: FormField | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = Form(found.get("method", "get").lower(), found.get("action", ""), [])
            self.forms.append(self._form)
            return
        if self._form is None or not found.get("name"):
            if tag == "option" and self._select is not None:
                self._option(found)
            return
        name = found["name"]
        if tag == "input":
            kind = found.get("type", "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            checkable = kind in ("checkbox", "radio")
            value = found.get("value", "on" if checkable else "")
            self._form.fields.append(FormField(name, kind, value, not checkable or "checked" in found))
        elif tag == "textarea":
            self._textarea = FormField(name, "textarea", "", True)
            self._form.fields.append(self._textarea)
        elif tag == "select":
            self._select = FormField(name, "select", "", True)
            self._first_option = None
            self._form.fields.append(self._select)

    def _option(self, found: dict[str, str]) -> None:
        assert self._select is not None
        value = found.get("value", "")
        if self._first_option is None:
            self._first_option = value
            self._select.value = value
        if "selected" in found:
            self._select.value = value

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def forms_of(page: str) -> list[Form]:
    reader = FormReader()
    reader.feed(page)
    return reader.forms


PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def tenant_pages(app: Litestar, world: World) -> list[tuple[str, frozenset[str]]]:
    """Every GET path of the route table served on tenant hosts, with its parameters filled in, and
    the actions of the permission matrix its guards require."""
    pages: set[tuple[str, frozenset[str]]] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler) or "GET" not in handler.http_methods:
                continue
            sites = handler.opt.get("sites", ("tenant",))
            if sites != "any" and "tenant" not in sites:
                continue
            names = [m.group(1) for m in PARAM.finditer(route.path)]
            if any(name not in world.ids for name in names):
                continue  # catch-all paths, SSO providers, calendar feeds: no form there
            actions = frozenset(g.action for g in handler.resolve_guards() if isinstance(g, Requires))
            choices: list[list[str]] = [[]]
            for name in names:
                choices = [[*c, v] for c in choices for v in world.ids[name]]
            for values in choices:
                path = route.path
                for value in values:
                    path = PARAM.sub(value, path, count=1)
                pages.add((path, actions))
    return sorted(pages, key=lambda page: page[0])


def opened_by(pages: list[tuple[str, frozenset[str]]], role: str) -> list[str]:
    """The pages ``role`` may open (the others answer 401 or 403: no form to find there)."""
    roles = () if role == "anonymous" else (role,)
    return [path for path, actions in pages if all(allowed(roles, action) for action in actions)]


@dataclasses.dataclass(frozen=True)
class Sighting:
    """A form as one role saw it on one page."""

    role: str
    page: str
    cookies: dict[str, str]
    form: Form


def _collect(
    web: Client,
    hostname: str,
    cookies: dict[str, str],
    paths: list[str],
    role: str,
    seen: dict[tuple[str, str, str, tuple[str, ...]], Sighting],
) -> None:
    """Adds to ``seen`` each form ``role`` finds on ``paths`` that no one found before."""
    for path in paths:
        _wear(web, cookies)
        answer = web.get(path, headers={"Host": hostname, "Accept": "text/html"}, follow_redirects=False)
        assert answer.status_code < 500, f"{role} GET {path}: {answer.status_code}"
        if answer.status_code != 200 or "text/html" not in answer.headers.get("content-type", ""):
            continue
        for form in forms_of(answer.text):
            action = form.action or path
            if urlsplit(action).netloc:
                continue
            key = (hostname, form.method, urlsplit(action).path, tuple(sorted({f.name for f in form.fields})))
            seen.setdefault(key, Sighting(role, path, cookies, dataclasses.replace(form, action=action)))


def _send(web: Client, hostname: str, sighting: Sighting, data: list[tuple[str, str]]) -> Any:
    headers = {"Host": hostname, "Accept": "text/html", "Referer": f"http://{hostname}{sighting.page}"}
    _wear(web, sighting.cookies)
    if sighting.form.method == "post":
        return web.post(
            sighting.form.action,
            content=urlencode(data),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
    return web.get(sighting.form.action, params=urlencode(data), headers=headers, follow_redirects=False)


def _wear(web: Client, cookies: dict[str, str]) -> None:
    """The client carries exactly ``cookies`` (what an earlier answer set is dropped)."""
    web.cookies.clear()
    for name, value in cookies.items():
        web.cookies.set(name, value)


# The pages people use most: the message next to the field -----------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    role: str
    page: str  # where the form is; {open} and {scheduled} are the seeded requests
    action: str
    field: str
    value: str
    filled: tuple[tuple[str, str], ...] = ()  # what a person would have typed in the other fields


STRONG = "cheval agrafe pile correcte 42"
CASES = [
    Case(
        "anonymous",
        "/inscription",
        "/inscription",
        "display_name",
        f"Jeanne{NUL} Martin",
        (("role", "beneficiary"), ("email", "jeanne.invisible@example.org"), ("password", STRONG)),
    ),
    Case(
        "anonymous",
        "/inscription",
        "/inscription",
        "email",
        f"jeanne{NUL}@example.org",
        (("role", "beneficiary"), ("display_name", "Jeanne"), ("password", STRONG)),
    ),
    Case(
        "anonymous",
        "/inscription",
        "/inscription",
        "password",
        f"cheval{BEL} agrafe pile correcte",
        (("role", "beneficiary"), ("display_name", "Jeanne"), ("email", "jeanne.bel@example.org")),
    ),
    Case("beneficiary", "/demander/errands", "/demander/errands", "shopping_list", f"Pain{NUL}\nLait"),
    Case("beneficiary", "/demander/errands", "/demander/errands", "shop", f"Marché{BEL}"),
    Case("beneficiary", "/mes-demandes/{open}", "/mes-demandes/{open}/message", "body", f"Bonjour{NUL}"),
    Case(
        "volunteer",
        "/benevole/demandes/{scheduled}",
        "/benevole/demandes/{scheduled}/message",
        "body",
        f"À jeudi{NUL}",
    ),
    Case("beneficiary", "/signaler", "/signaler", "body", f"Ma voisine{NUL} ne répond plus"),
    Case(
        "beneficiary",
        "/compte",
        "/compte/preferences",
        "phone",
        f"06 12 34{NUL} 56 78",
        (("channel", "sms"),),
    ),
    Case(
        "beneficiary", "/mes-demandes/{open}", "/mes-demandes/{open}/annuler", "reason", f"Je vais mieux{NUL}"
    ),
]


def _error_next_to(page: str, name: str) -> str:
    """The text of the error shown next to field ``name`` ("" when there is none)."""
    found = re.search(rf'id="error-{re.escape(name)}"[^>]*>(.*?)</p>', page, re.S)
    if not found:
        return ""
    text = re.sub(r'<span class="visually-hidden">.*?</span>', "", found.group(1), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c.role}-{c.action.split('/')[-1] or c.action}-{c.field}"
)
def test_the_page_says_which_field_holds_an_invisible_character(
    web: Client, world: World, case: Case
) -> None:
    ids = {"open": world.ids["request_id"][0], "scheduled": world.ids["request_id"][1]}
    cookies = _signed_in(web, world, case.role)
    _wear(web, cookies)
    page = web.get(case.page.format(**ids), headers=host(SLUG))
    assert page.status_code == 200, page.text
    action = case.action.format(**ids)
    [form] = [f for f in forms_of(page.text) if f.action == action]
    typed = dict(case.filled)
    data = form.with_values({**typed, case.field: case.value})
    answer = _post(web, action, data)
    assert answer.status_code == 400, (answer.status_code, answer.text[:500])
    assert _error_next_to(answer.text, case.field).startswith(MESSAGE_FR), answer.text
    # French by default; in English through the catalogue.
    _wear(web, {**cookies, "bippop_lang": "en"})
    english = _post(web, action, data)
    assert _error_next_to(english.text, case.field).startswith("This field contains an invisible character")


def _post(web: Client, action: str, data: list[tuple[str, str]]) -> Any:
    return web.post(
        action,
        content=urlencode(data),
        headers={**host(SLUG), "Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def test_line_breaks_and_tabs_are_welcome_in_a_textarea_not_in_a_line(web: Client, world: World) -> None:
    _wear(web, _signed_in(web, world, "beneficiary"))
    form = web.get("/signaler", headers=host(SLUG))
    [concern] = [f for f in forms_of(form.text) if f.action == "/signaler"]
    sent = _post(
        web, "/signaler", concern.with_values({"body": "Ma voisine ne répond plus.\r\n\tDepuis mardi."})
    )
    assert sent.status_code == 200 and MESSAGE_FR not in sent.text
    answer = web.post(
        "/compte/preferences",
        data={
            "channel": "sms",
            "phone": "06 12 34 56 78\n",
            "_csrf_token": web.cookies.get("csrftoken") or "",
        },
        headers=host(SLUG),
        follow_redirects=False,
    )
    assert answer.status_code == 400 and _error_next_to(answer.text, "phone").startswith(MESSAGE_FR)


# The sweep -----------------------------------------------------------------------------------------


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


# Forms already swept by an earlier role of this run (the same form seen again is not sent again).
SWEPT: set[tuple[str, str, str, tuple[str, ...]]] = set()
# Where each role looks: the tenant's pages it may open, or the co-op console's.
SWEEPS = (*ROLES, "coop_anonymous", "coop_admin")


@pytest.mark.parametrize("role", SWEEPS)
def test_no_field_of_any_form_answers_a_5xx_for_an_invisible_character(
    app: Litestar,
    web: Client,
    world: World,
    resources: PlatformResources,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    role: str,
) -> None:
    seen: dict[tuple[str, str, str, tuple[str, ...]], Sighting] = {}
    if role == "coop_anonymous":
        _collect(web, COOP_HOST, {}, ["/connexion"], role, seen)
    elif role == "coop_admin":
        cookies = _staff_signed_in(web, resources, settings)
        _collect(web, COOP_HOST, cookies, ["/", "/connexion"], role, seen)
    else:
        pages = opened_by(tenant_pages(app, world), role)
        _collect(web, host(SLUG)["Host"], _signed_in(web, world, role), pages, role, seen)
    assert seen, f"{role} found no form"
    caplog.set_level(logging.INFO)
    failures: list[str] = []
    for key, sighting in seen.items():
        if key in SWEPT:
            continue
        SWEPT.add(key)
        names = list(dict.fromkeys(f.name for f in sighting.form.fields if f.name != "_csrf_token"))
        # A NUL in each field in turn; then a bell in all of them at once.
        attempts = [(name, sighting.form.with_value(name, f"Bonjour{NUL}là")) for name in names]
        attempts.append(("*", sighting.form.with_values(dict.fromkeys(names, f"Bonjour{BEL}là"))))
        for name, data in attempts:
            answer = _send(web, key[0], sighting, data)
            if answer.status_code >= 500:
                failures.append(
                    f"{sighting.form.method.upper()} {sighting.form.action} {name}: {answer.status_code}"
                )
    assert not failures, "\n".join(failures)
    # Every page's own checks caught them: none fell through to the safety net.
    assert not _events(caplog, "invisible_characters_refused")
    assert not _events(caplog, "unexpected_error")
