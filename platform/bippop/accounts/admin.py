"""The tenant staff's pages for accounts: people and their roles, invitations, relatives' mandates,
and the audit log; plus the page where relatives and beneficiaries see their own mandates.

Every handler names its action from the permission matrix (accounts/permissions.py). Everything is
read in the request's tenant schema, so an id from another tenant finds nothing: 404. Forms work
without JavaScript (post, then redirect to the page with a status message) and show each error next
to its field, with a summary at the top.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy import any_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bippop.accounts import audit
from bippop.accounts import services as accounts
from bippop.accounts.auth import Identity, current_identity, session_store
from bippop.accounts.controllers import FormData, _commit_and_send, _form, _hit, _link, _page
from bippop.accounts.mandates import may_act_for
from bippop.accounts.models import MANDATE_CONSENTS, ROLES, AccountToken, AuditEvent, Mandate, Person
from bippop.accounts.permissions import allowed, invitable_roles, requires
from bippop.tenants.context import TenantRef
from bippop.tenants.resolution import Site
from bippop.web import i18n
from bippop.web.drafts import take_draft
from bippop.web.forms import form_problems, search_text
from bippop.web.i18n import _, role_label
from bippop.web.pages import tenant_default_locale

PAGE_SIZE = 50
MAX_PAGE = 10_000
LOCAL_TIME = ZoneInfo("Europe/Paris")


# --- small helpers -----------------------------------------------------------------------------


def _tenant(request: Request) -> TenantRef:
    site: Site = request.state.site
    assert site.tenant is not None  # every route here serves tenant sites only
    return site.tenant


def _identity(request: Request) -> Identity:
    identity = current_identity(request)
    assert identity is not None  # the guard has let only signed-in people through
    return identity


async def _use_locale(request: Request, db_session: AsyncSession) -> None:
    """The page's language before any label or message is made (render() picks the same one)."""
    default = await tenant_default_locale(db_session)
    i18n.current_locale.set(
        i18n.pick_locale(request.query_params.get("lang"), request.cookies.get(i18n.LOCALE_COOKIE), default)
    )


def _values(data: dict[str, Any], name: str) -> list[str]:
    """Every value of a field sent several times (checkboxes): one string or a list of them."""
    raw = data.get(name)
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [str(item).strip() for item in items if str(item).strip()]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def escape_like(value: str) -> str:
    """``value`` matched literally by ``ILIKE … ESCAPE '\\'``: its ``%`` and ``_`` are not wildcards."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return min(MAX_PAGE, max(1, int(raw))) if re.fullmatch(r"[0-9]{1,6}", raw) else 1


def _with_role(role: str) -> Any:
    return literal(role) == any_(Person.roles)


def consent_labels() -> dict[str, str]:
    return {
        "written": _("Written consent"),
        "oral": _("Oral consent"),
        "legal_protection": _("Legal protection measure (guardianship, curatorship…)"),
    }


def action_labels() -> dict[str, str]:
    """What each audit action means, for people browsing the log (English msgids, translated)."""
    return {
        "sign_in": _("Signed in"),
        "sign_in_failed": _("Sign-in refused"),
        "sign_out": _("Signed out"),
        "sign_out_everywhere": _("Signed out on all devices"),
        "account_created": _("Account created"),
        "email_verified": _("E-mail address confirmed"),
        "password_reset": _("Password changed with a reset link"),
        "mfa_enabled": _("Two-step sign-in turned on"),
        "mfa_recovery_codes_replaced": _("New recovery codes made"),
        "invitation_sent": _("Invitation sent"),
        "invitation_accepted": _("Invitation accepted"),
        "role_changed": _("Roles changed"),
        "mandate_recorded": _("Mandate recorded"),
        "mandate_revoked": _("Mandate revoked"),
        "audit_viewed": _("Audit log consulted"),
        "tenant.exported": _("All the service's data exported"),
        "sso_linked": _("FranceConnect or ProConnect identity linked"),
        "preferences_changed": _("How to give news changed"),
        "task_done": _("Task done"),
        "concern_handled": _("Concern handled"),
        "event_created": _("Event created"),
        "event_cancelled": _("Event cancelled"),
        "event_registration": _("Registration for an event"),
        "event_registration_cancelled": _("Registration for an event cancelled"),
        "event_registration_promoted": _("Place freed for someone on the waiting list"),
        "modules_changed": _("Services switched on or off"),
        "event_registrants_read": _("List of people registered for an event read"),
        "beneficiary_record_read": _("A person helped's record read"),
        "beneficiary_contact_read": _("A person helped's phone and address read"),
        "beneficiary_recorded": _("Person helped recorded"),
        "vetting_changed": _("Volunteer vetting changed"),
        "request_created": _("Request recorded"),
        "request_offer": _("Request offered to volunteers"),
        "request_pop": _("A volunteer answered a request"),
        "request_assign": _("Volunteer assigned to a request"),
        "request_schedule": _("Appointment set"),
        "request_complete": _("Help given"),
        "request_report": _("Visit reported"),
        "visit_reported": _("Visit reported"),
        "request_feedback": _("Opinion given"),
        "request_close": _("Request closed"),
        "request_cancel": _("Request cancelled"),
        "request_withdraw": _("Volunteer stepped back"),
        "request_reassign": _("Volunteer taken off a request"),
        "request_vetting_lost": _("Volunteer no longer vetted for a request"),
        "request_pause": _("Regular visits paused"),
        "request_resume": _("Regular visits resumed"),
        "appointment_done": _("Appointment done"),
        "appointment_no_show": _("Nobody at home"),
        "request_message": _("Message about a request"),
    }


@dataclasses.dataclass(frozen=True)
class NavLink:
    path: str
    label: str


def admin_links(identity: Identity) -> list[NavLink]:
    """The staff pages this person may open, for the navigation at the top of each."""
    links = [
        ("people.view", "/gestion/personnes", _("People")),
        ("people.invite", "/gestion/invitations", _("Invitations")),
        ("mandates.manage", "/gestion/mandats", _("Mandates")),
        ("audit.browse", "/gestion/journal", _("Audit log")),
    ]
    return [NavLink(path, label) for action, path, label in links if allowed(identity.roles, action)]


async def _admin_page(
    request: Request, db_session: AsyncSession, template: str, context: dict[str, Any], status: int = 200
) -> Response[str]:
    identity = _identity(request)
    context = {"admin_links": admin_links(identity), "role_label": role_label, **context}
    return await _page(request, db_session, template, context, status=status)


@dataclasses.dataclass(frozen=True)
class Pagination:
    page: int
    total: int
    base_query: dict[str, str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    def link(self, page: int) -> str:
        return "?" + urlencode({**self.base_query, "page": str(page)})

    @property
    def previous(self) -> str | None:
        return self.link(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.page + 1) if self.page < self.pages else None


async def _paginate(
    db_session: AsyncSession, query: Any, page: int, base_query: dict[str, str]
) -> tuple[Sequence[Any], Pagination]:
    total = await db_session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = (await db_session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))).all()
    return rows, Pagination(page, total, {k: v for k, v in base_query.items() if v})


async def _names(db_session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db_session.execute(select(Person.id, Person.display_name).where(Person.id.in_(wanted)))
    return {row.id: row.display_name for row in rows}


# --- people and roles --------------------------------------------------------------------------


class PeopleController(Controller):
    path = "/gestion/personnes"

    @get("/", guards=[requires("people.view")], name="admin-people")
    async def people(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        role = request.query_params.get("role", "")
        role = role if role in ROLES else ""
        search = search_text(request.query_params.get("q", ""), 100)
        query = select(Person)
        if role:
            query = query.where(_with_role(role))
        if search:
            pattern = f"%{escape_like(search)}%"
            query = query.where(
                or_(
                    Person.display_name.ilike(pattern, escape="\\"),
                    Person.email.ilike(pattern, escape="\\"),
                )
            )
        query = query.order_by(func.lower(Person.display_name), Person.id)
        rows, pagination = await _paginate(
            db_session, query, _page_number(request), {"q": search, "role": role}
        )
        context = {
            "people": [row[0] for row in rows],
            "pagination": pagination,
            "values": {"q": search, "role": role},
            "role_options": [(r, role_label(r)) for r in ROLES],
        }
        return await _admin_page(request, db_session, "admin/people.html", context)

    @get("/{person_id:uuid}", guards=[requires("people.view")], name="admin-person")
    async def person(
        self, request: Request, db_session: NamedDependency[AsyncSession], person_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        await _use_locale(request, db_session)
        person = await db_session.get(Person, person_id)
        if person is None:
            raise NotFoundException()
        if "beneficiary" in person.roles:
            # Reading a person helped's record is recorded (the request's transaction commits it).
            audit.record(
                db_session,
                "beneficiary_record_read",
                actor_id=_identity(request).person_id,
                subject_type="person",
                subject_id=person.id,
            )
        return await _person_page(
            request,
            db_session,
            person,
            chosen=list(person.roles),
            errors={},
            saved=request.query_params.get("saved") == "1",
        )

    @post("/{person_id:uuid}/roles", guards=[requires("people.manage_roles")], name="admin-person-roles")
    async def set_roles(
        self,
        request: Request,
        db_session: NamedDependency[AsyncSession],
        person_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        # Lock the administrators first, always in the same order, then the person: two administrators
        # removing each other at the same moment cannot both succeed, nor deadlock.
        admin_ids = list(
            await db_session.scalars(
                select(Person.id)
                .where(_with_role("tenant_admin"), Person.disabled_at.is_(None))
                .order_by(Person.id)
                .with_for_update()
            )
        )
        person = await db_session.get(Person, person_id, with_for_update=True)
        if person is None:
            raise NotFoundException()
        chosen = _values(data, "roles")
        errors: dict[str, str] = {}
        if not chosen:
            errors["roles"] = _("Choose at least one role.")
        elif any(role not in ROLES for role in chosen):
            errors["roles"] = _("Choose roles from the list.")
        errors.update(form_problems(data))
        before = [role for role in ROLES if role in person.roles]
        after = [role for role in ROLES if role in chosen]
        if (
            not errors
            and "tenant_admin" in before
            and "tenant_admin" not in after
            and not [i for i in admin_ids if i != person.id]
        ):
            errors["roles"] = _(
                "This person is the service's last administrator. Make someone else an administrator first."
            )
        if errors:
            return await _person_page(request, db_session, person, chosen=chosen, errors=errors, status=400)
        if after != before:
            person.roles = after
            audit.record(
                db_session,
                "role_changed",
                actor_id=identity.person_id,
                subject_type="person",
                subject_id=person.id,
                details={"before": before, "after": after},
            )
            await db_session.commit()
            # The roles of a session are those of its sign-in: the person signs in again to get the new ones.
            await session_store(request).end_all_for(_tenant(request).id, person.id)
            if person.id == identity.person_id:
                return Redirect("/connexion", status_code=303)
        return Redirect(f"/gestion/personnes/{person.id}?saved=1", status_code=303)


async def _person_page(
    request: Request,
    db_session: AsyncSession,
    person: Person,
    *,
    chosen: list[str],
    errors: dict[str, str],
    saved: bool = False,
    status: int = 200,
) -> Response[str]:
    identity = _identity(request)
    relative, beneficiary = aliased(Person), aliased(Person)
    mandates = (
        await db_session.execute(
            select(Mandate, relative.display_name, beneficiary.display_name)
            .join(relative, relative.id == Mandate.relative_id)
            .join(beneficiary, beneficiary.id == Mandate.beneficiary_id)
            .where(
                or_(Mandate.relative_id == person.id, Mandate.beneficiary_id == person.id),
                Mandate.revoked_at.is_(None),
            )
            .order_by(Mandate.created_at.desc())
        )
    ).all()
    context = {
        "person": person,
        "roles": ROLES,
        "values": {"roles": chosen},
        "errors": errors,
        "saved": saved,
        "may_manage_roles": allowed(identity.roles, "people.manage_roles"),
        "role_options": [(role, role_label(role)) for role in ROLES],
        "mandates": mandates,
        "consent_labels": consent_labels(),
    }
    return await _admin_page(request, db_session, "admin/person.html", context, status=status)


# --- invitations -------------------------------------------------------------------------------


class InvitationsController(Controller):
    path = "/gestion/invitations"

    @get("/", guards=[requires("people.invite")], name="admin-invitations")
    async def invitations(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        # What was typed when the session ran out comes back once the person has signed in again.
        draft = await take_draft(request)
        if isinstance(draft.get("roles"), str):
            draft["roles"] = [draft["roles"]]
        return await _invitations_page(
            request, db_session, values=draft, errors={}, sent=request.query_params.get("sent") == "1"
        )

    @post("/", guards=[requires("people.invite")])
    async def invite(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        form = _form(data)
        email = str(form.get("email", ""))
        roles = _values(data, "roles")
        offered = invitable_roles(identity.roles)
        errors: dict[str, str] = {}
        if not accounts.looks_like_email(email):
            errors["email"] = _("Enter an e-mail address like name@example.fr.")
        if not roles:
            errors["roles"] = _("Choose at least one role.")
        elif any(role not in offered for role in roles):
            errors["roles"] = _("Choose roles from the list: your role does not let you give the others.")
        errors.update(form_problems(form))
        status = 400
        if not errors:
            refused = await _hit(request, "invitation", email)
            if refused:
                errors["form"], status = refused, 429
        if errors:
            values = {"email": email, "roles": roles}
            return await _invitations_page(request, db_session, values=values, errors=errors, status=status)
        address = accounts.normalise_email(email)
        ordered = [role for role in ROLES if role in roles]
        # The latest invitation to an address is the one that counts.
        for old in await db_session.scalars(
            select(AccountToken).where(
                AccountToken.purpose == "invitation",
                AccountToken.email == address,
                AccountToken.used_at.is_(None),
            )
        ):
            old.used_at = accounts.now_utc()
        raw = await accounts.issue_token(
            db_session, "invitation", email=address, roles=ordered, created_by=identity.person_id
        )
        await db_session.flush()
        invitation_id = await db_session.scalar(
            select(AccountToken.id).where(AccountToken.token_hash == accounts._token_hash(raw))
        )
        message = accounts.mail_link(
            db_session,
            purpose="invitation",
            recipient=address,
            person=None,
            link=_link(request, raw),
            tenant_name=_tenant(request).name,
        )
        audit.record(
            db_session,
            "invitation_sent",
            actor_id=identity.person_id,
            subject_type="invitation",
            subject_id=invitation_id,
            details={"roles": ordered, "message_id": str(message.id)},
        )
        await _commit_and_send(request, db_session, [message.id])
        return Redirect("/gestion/invitations?sent=1", status_code=303)


async def _invitations_page(
    request: Request,
    db_session: AsyncSession,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    sent: bool = False,
    status: int = 200,
) -> Response[str]:
    identity = _identity(request)
    query = (
        select(AccountToken, Person.display_name)
        .outerjoin(Person, Person.id == AccountToken.created_by)
        .where(
            AccountToken.purpose == "invitation",
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > accounts.now_utc(),
        )
        .order_by(AccountToken.created_at.desc(), AccountToken.id)
    )
    rows, pagination = await _paginate(db_session, query, _page_number(request), {})
    offered = invitable_roles(identity.roles)
    context = {
        "values": {"email": "", "roles": [], **values},
        "errors": errors,
        "sent": sent,
        "role_options": [(role, role_label(role)) for role in ROLES if role in offered],
        "pending": rows,
        "pagination": pagination,
        "local": _local,
    }
    return await _admin_page(request, db_session, "admin/invitations.html", context, status=status)


# --- mandates ----------------------------------------------------------------------------------


class MandatesController(Controller):
    path = "/gestion/mandats"

    @get("/", guards=[requires("mandates.manage")], name="admin-mandates")
    async def mandates(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        notice = {"recorded": "recorded", "revoked": "revoked"}.get(request.query_params.get("done", ""))
        return await _mandates_page(request, db_session, values={}, errors={}, notice=notice)

    @post("/", guards=[requires("mandates.manage")])
    async def record(
        self, request: Request, db_session: NamedDependency[AsyncSession], data: FormData
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        form = _form(data)
        relative_id, beneficiary_id = _uuid(form.get("relative_id")), _uuid(form.get("beneficiary_id"))
        consent = str(form.get("consent", ""))
        errors: dict[str, str] = {}
        relative = await db_session.get(Person, relative_id) if relative_id else None
        # Locking the beneficiary serialises mandates for one person: no duplicate from two coordinators.
        beneficiary = (
            await db_session.get(Person, beneficiary_id, with_for_update=True) if beneficiary_id else None
        )
        if relative is None or "relative" not in relative.roles or relative.disabled_at is not None:
            errors["relative_id"] = _("Choose the relative in the list.")
        if (
            beneficiary is None
            or "beneficiary" not in beneficiary.roles
            or beneficiary.disabled_at is not None
        ):
            errors["beneficiary_id"] = _("Choose the person helped in the list.")
        elif relative is not None and relative.id == beneficiary.id:
            errors["beneficiary_id"] = _("A person cannot hold a mandate for themselves.")
        if consent not in MANDATE_CONSENTS:
            errors["consent"] = _("Choose how the person helped gave their consent.")
        errors.update(form_problems(form))
        if (
            not errors
            and relative is not None
            and beneficiary is not None
            and await may_act_for(db_session, relative.id, beneficiary.id)
        ):
            errors["beneficiary_id"] = _("This relative can already act for this person.")
        if errors:
            values = {
                "relative_id": form.get("relative_id", ""),
                "beneficiary_id": form.get("beneficiary_id", ""),
            }
            values["consent"] = consent
            return await _mandates_page(request, db_session, values=values, errors=errors, status=400)
        assert relative is not None and beneficiary is not None
        mandate = Mandate(
            id=uuid.uuid4(),
            relative_id=relative.id,
            beneficiary_id=beneficiary.id,
            consent=consent,
            recorded_by=identity.person_id,
        )
        db_session.add(mandate)
        audit.record(
            db_session,
            "mandate_recorded",
            actor_id=identity.person_id,
            subject_type="mandate",
            subject_id=mandate.id,
            details={
                "relative_id": str(relative.id),
                "beneficiary_id": str(beneficiary.id),
                "consent": consent,
            },
        )
        await db_session.commit()
        return Redirect("/gestion/mandats?done=recorded", status_code=303)

    @post("/{mandate_id:uuid}/revoquer", guards=[requires("mandates.manage")], name="admin-mandate-revoke")
    async def revoke(
        self, request: Request, db_session: NamedDependency[AsyncSession], mandate_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        mandate = await db_session.get(Mandate, mandate_id, with_for_update=True)
        if mandate is None:
            raise NotFoundException()
        if mandate.revoked_at is None:
            mandate.revoked_at = accounts.now_utc()
            audit.record(
                db_session,
                "mandate_revoked",
                actor_id=identity.person_id,
                subject_type="mandate",
                subject_id=mandate.id,
                details={
                    "relative_id": str(mandate.relative_id),
                    "beneficiary_id": str(mandate.beneficiary_id),
                },
            )
            await db_session.commit()
        return Redirect("/gestion/mandats?done=revoked", status_code=303)


async def _person_options(db_session: AsyncSession, role: str) -> list[tuple[str, str]]:
    """(id, "Name (e-mail)") of the people holding ``role``, for a select."""
    rows = await db_session.execute(
        select(Person.id, Person.display_name, Person.email)
        .where(_with_role(role), Person.disabled_at.is_(None))
        .order_by(func.lower(Person.display_name), Person.id)
    )
    return [
        (str(row.id), f"{row.display_name} ({row.email})" if row.email else row.display_name) for row in rows
    ]


async def _mandates_page(
    request: Request,
    db_session: AsyncSession,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    consents = consent_labels()
    relative, beneficiary = aliased(Person), aliased(Person)
    query = (
        select(Mandate, relative.display_name, beneficiary.display_name)
        .join(relative, relative.id == Mandate.relative_id)
        .join(beneficiary, beneficiary.id == Mandate.beneficiary_id)
        .where(Mandate.revoked_at.is_(None))
        .order_by(Mandate.created_at.desc(), Mandate.id)
    )
    rows, pagination = await _paginate(db_session, query, _page_number(request), {})
    context = {
        "values": {"relative_id": "", "beneficiary_id": "", "consent": "", **values},
        "errors": errors,
        "notice": notice,
        "relative_options": await _person_options(db_session, "relative"),
        "beneficiary_options": await _person_options(db_session, "beneficiary"),
        "consent_labels": consents,
        "consent_options": list(consents.items()),
        "mandates": rows,
        "pagination": pagination,
        "local": _local,
    }
    return await _admin_page(request, db_session, "admin/mandates.html", context, status=status)


class OwnMandatesController(Controller):
    """A relative sees whom they may act for; a person helped sees who may act for them."""

    path = "/compte/mandats"

    @get("/", guards=[requires("mandates.view_own")], name="own-mandates")
    async def own(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        other = aliased(Person)
        for_others = (
            await db_session.execute(
                select(Mandate, other.display_name)
                .join(other, other.id == Mandate.beneficiary_id)
                .where(Mandate.relative_id == identity.person_id, Mandate.revoked_at.is_(None))
                .order_by(func.lower(other.display_name))
            )
        ).all()
        for_me = (
            await db_session.execute(
                select(Mandate, other.display_name)
                .join(other, other.id == Mandate.relative_id)
                .where(Mandate.beneficiary_id == identity.person_id, Mandate.revoked_at.is_(None))
                .order_by(func.lower(other.display_name))
            )
        ).all()
        context = {
            "for_others": for_others,
            "for_me": for_me,
            "is_relative": "relative" in identity.roles,
            "is_beneficiary": "beneficiary" in identity.roles,
            "consent_labels": consent_labels(),
            "local": _local,
        }
        return await _page(request, db_session, "admin/own_mandates.html", context)


# --- audit log ---------------------------------------------------------------------------------


def _local(moment: datetime.datetime | None) -> datetime.datetime | None:
    return moment.astimezone(LOCAL_TIME) if moment is not None else None


def _parse_day(value: str) -> datetime.date | None:
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2200 else None  # the edges of the calendar overflow in time zones


def _day_start(day: datetime.date) -> datetime.datetime:
    """Midnight of ``day`` in Paris, as an aware datetime (DST handled by zoneinfo)."""
    return datetime.datetime.combine(day, datetime.time(), tzinfo=LOCAL_TIME)


def _cursor(value: str) -> tuple[datetime.datetime, uuid.UUID] | None:
    """``before=<ISO time>~<event id>``: the last event of the previous page."""
    moment, _sep, event_id = value.partition("~")
    parsed_id = _uuid(event_id)
    try:
        parsed = datetime.datetime.fromisoformat(moment)
    except ValueError:
        return None
    if parsed_id is None or parsed.tzinfo is None:
        return None
    return parsed, parsed_id


@dataclasses.dataclass(frozen=True)
class LogLine:
    event: AuditEvent
    when: datetime.datetime
    who: str
    what: str
    more: str
    subject: str


class AuditLogController(Controller):
    path = "/gestion/journal"

    @get("/", guards=[requires("audit.browse")], name="admin-audit-log")
    async def journal(self, request: Request, db_session: NamedDependency[AsyncSession]) -> Response[str]:
        await _use_locale(request, db_session)
        identity = _identity(request)
        params = request.query_params
        labels = action_labels()
        sent = {key: params.get(key, "") for key in ("action", "person", "from", "to")}
        # Looked up without the characters nobody types; the field still says it held one (below).
        values = {key: search_text(text, 254) for key, text in sent.items()}
        errors: dict[str, str] = {}
        query = select(AuditEvent)
        if values["action"]:
            if values["action"] not in labels:
                errors["action"] = _("Choose an action from the list.")
            query = query.where(AuditEvent.action == values["action"])
        actor_id: uuid.UUID | None = None
        if values["person"]:
            actor = await accounts.person_by_email(db_session, values["person"])
            if actor is None:
                errors["person"] = _("Nobody in this service has this e-mail address.")
            else:
                actor_id = actor.id
                query = query.where(AuditEvent.actor_id == actor.id)
        since = until = None
        if values["from"]:
            day = _parse_day(values["from"])
            if day is None:
                errors["from"] = _("Enter a date like 2025-03-31.")
            else:
                since = _day_start(day)
                query = query.where(AuditEvent.occurred_at >= since)
        if values["to"]:
            day = _parse_day(values["to"])
            if day is None:
                errors["to"] = _("Enter a date like 2025-03-31.")
            else:
                until = _day_start(day + datetime.timedelta(days=1))
                query = query.where(AuditEvent.occurred_at < until)
        if since is not None and until is not None and until <= since:
            errors["to"] = _("The end date must be the same as the start date or after it.")
        errors.update(form_problems(sent))
        cursor = _cursor(params.get("before", ""))
        if cursor is not None:
            query = query.where(tuple_(AuditEvent.occurred_at, AuditEvent.id) < tuple_(*cursor))
        lines: list[LogLine] = []
        older: str | None = None
        if not errors:
            events = list(
                await db_session.scalars(
                    query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(PAGE_SIZE + 1)
                )
            )
            if len(events) > PAGE_SIZE:
                events = events[:PAGE_SIZE]
                last = events[-1]
                filters = {k: v for k, v in values.items() if v}
                older = "?" + urlencode({**filters, "before": f"{last.occurred_at.isoformat()}~{last.id}"})
            lines = await _log_lines(db_session, events, labels)
            audit.record(
                db_session,
                "audit_viewed",
                actor_id=identity.person_id,
                details={
                    "action": values["action"] or None,
                    "actor_id": str(actor_id) if actor_id else None,
                    "from": values["from"] or None,
                    "to": values["to"] or None,
                    "older": cursor is not None,
                },
            )
            await db_session.commit()
        filters = {k: v for k, v in values.items() if v}
        context = {
            "values": values,
            "errors": errors,
            "lines": lines,
            "older": older,
            "newest": ("?" + urlencode(filters)) if cursor is not None else None,
            "actions": sorted(labels.items(), key=lambda item: item[1].lower()),
        }
        return await _admin_page(
            request, db_session, "admin/journal.html", context, status=400 if errors else 200
        )


async def _log_lines(
    db_session: AsyncSession, events: Sequence[AuditEvent], labels: dict[str, str]
) -> list[LogLine]:
    person_ids = [e.actor_id for e in events] + [e.subject_id for e in events if e.subject_type == "person"]
    names = await _names(db_session, person_ids)
    invitation_ids = {e.subject_id for e in events if e.subject_type == "invitation" and e.subject_id}
    invited: dict[uuid.UUID, str] = {}
    if invitation_ids:
        rows = await db_session.execute(
            select(AccountToken.id, AccountToken.email).where(AccountToken.id.in_(invitation_ids))
        )
        invited = {row.id: row.email or "" for row in rows}
    consents = consent_labels()
    lines = []
    for event in events:
        if event.actor_id is None:
            who = _("The system") if event.action != "sign_in_failed" else _("Unknown")
        else:
            who = names.get(event.actor_id, _("Deleted person"))
        subject = ""
        if event.subject_type == "person" and event.subject_id:
            subject = names.get(event.subject_id, _("Deleted person"))
        elif event.subject_type == "invitation" and event.subject_id:
            subject = invited.get(event.subject_id, "")
        elif event.subject_type == "mandate" and event.subject_id:
            subject = _("Mandate %(id)s") % {"id": str(event.subject_id)[:8]}
        elif event.subject_id:
            subject = f"{event.subject_type or ''} {str(event.subject_id)[:8]}".strip()
        lines.append(
            LogLine(
                event=event,
                when=event.occurred_at.astimezone(LOCAL_TIME),
                who=who,
                what=labels.get(event.action, event.action),
                more=_details(event, consents),
                subject=subject,
            )
        )
    return lines


def _details(event: AuditEvent, consents: dict[str, str]) -> str:
    """A short, readable summary of an event's details (role names and labels only)."""
    details = event.details or {}
    if event.action == "role_changed":
        before = ", ".join(role_label(r) for r in details.get("before", [])) or "—"
        after = ", ".join(role_label(r) for r in details.get("after", [])) or "—"
        return f"{before} → {after}"
    if event.action in ("invitation_sent", "invitation_accepted", "account_created"):
        return ", ".join(role_label(r) for r in details.get("roles", []))
    if event.action == "mandate_recorded":
        return consents.get(details.get("consent", ""), "")
    return ""


ADMIN_CONTROLLERS = [
    PeopleController,
    InvitationsController,
    MandatesController,
    OwnMandatesController,
    AuditLogController,
]
