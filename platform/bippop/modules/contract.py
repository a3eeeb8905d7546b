"""The contract of a service module: one manifest says everything the core needs to know.

A module is a package whose entry point (group ``bippop.modules``) gives a ``ModuleManifest``:
its slug, names and description in French and English, an icon, the typed fields of its request
form (validated here, with messages next to each field), its matching hints, its templates
folder, and what it brings to the platform: routes (Litestar controllers for the portal and the
coordination pages) with links in the menus, permissions (merged into the role × action matrix),
settings a council sets on « Services proposés », jobs and periodic jobs, exports, statistics,
labels for its audit records, its own tenant tables through an Alembic branch of the tenant chain,
and hooks. The core iterates manifests and never names a module (a test scans for slugs).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from bippop.web import formats
from bippop.web.forms import field_problem
from bippop.web.i18n import _, current_locale

SLUG = re.compile(r"^[a-z][a-z0-9_]{1,38}$")
FieldKind = Literal["text", "textarea", "choice", "choices", "boolean", "integer", "money", "date"]


@dataclasses.dataclass(frozen=True)
class Label:
    """A text in French and English; ``str()`` gives the one of the current language."""

    fr: str
    en: str

    def __str__(self) -> str:
        return self.en if current_locale.get() == "en" else self.fr


@dataclasses.dataclass(frozen=True)
class Choice:
    value: str
    label: Label


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    label: Label
    kind: FieldKind = "text"
    required: bool = True
    choices: tuple[Choice, ...] = ()
    hint: Label | None = None
    max_length: int = 500
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None  # for a module setting: its value until the council changes it

    def choice_label(self, value: str) -> str:
        for choice in self.choices:
            if choice.value == value:
                return str(choice.label)
        return value


@dataclasses.dataclass(frozen=True)
class MatchingHints:
    """What a volunteer needs to be offered this kind of request."""

    skills: tuple[str, ...] = ()
    vetting_level: int = 0  # 0 none, 1 identity checked, 2 vetted
    recurring_allowed: bool = False
    default_duration_minutes: int = 60
    remote_possible: bool = False


@dataclasses.dataclass(frozen=True)
class Statistic:
    """A figure the module contributes to the council's impact page, computed from its requests
    (each given as ``{"status": …, "details": {…}, "duration_minutes": …}``)."""

    key: str
    label: Label
    compute: Callable[[Sequence[Mapping[str, Any]]], int | float]


@dataclasses.dataclass(frozen=True)
class Permission:
    """An action the module's routes are guarded by (``<slug>.<verb>``), the tenant roles that may do it,
    and what it allows, said for ``docs/permissions.md``."""

    action: str
    roles: frozenset[str]
    description: str


@dataclasses.dataclass(frozen=True)
class MenuLink:
    """A link the module adds to a menu: ``"coordination"`` (the council's pages, shown to whoever holds
    ``action``) or ``"portal"`` (the home page of the portal, shown to everyone)."""

    area: Literal["coordination", "portal"]
    path: str
    label: Label
    action: str | None = None


@dataclasses.dataclass(frozen=True)
class Retention:
    """Data the module deletes after a while (its own purge job must apply exactly ``days``): each
    tenant's privacy notice lists it with the core's retention periods."""

    what: Label
    days: int


@dataclasses.dataclass(frozen=True)
class Notice:
    """A message the module sends through the platform's channels (``notify_all`` with its purpose): the
    news in a few words (mail subject, first words of a text or a call), what it means, and the page of
    the portal it points to, introduced by ``see`` (« Voir les événements : %(link)s »)."""

    title: Label
    detail: Label
    path: str | None = None
    see: Label | None = None


ExportRows = Callable[[Any], Awaitable[Iterable[Sequence[Any]]]]


@dataclasses.dataclass(frozen=True)
class Export:
    """A table a council downloads (CSV) from « Exports »: ``rows(session)`` gives its lines, in the order
    of ``columns``. Reading personal data: who needs ``action``, and each download is audited."""

    key: str
    label: Label
    action: str
    columns: tuple[Label, ...]
    rows: ExportRows


Hook = Callable[..., Awaitable[Any]]
HOOKS = frozenset({"on_request_created", "on_appointment_done", "ask_form_context"})


@dataclasses.dataclass(frozen=True)
class ModuleManifest:
    slug: str
    name: Label
    description: Label
    icon: str  # a name of themes/base/static/icons/<icon>.svg
    fields: tuple[Field, ...]
    matching: MatchingHints = MatchingHints()
    templates: Path | None = None  # folder holding modules/<slug>/*.html
    statistics: tuple[Statistic, ...] = ()
    # on_request_created, on_appointment_done; ask_form_context(session, person) -> extra page context
    hooks: Mapping[str, Hook] = dataclasses.field(default_factory=dict)
    position: int = 100  # where the module comes in lists (then by slug)
    controllers: tuple[type, ...] = ()  # Litestar controllers: the module's own pages
    links: tuple[MenuLink, ...] = ()
    permissions: tuple[Permission, ...] = ()
    settings: tuple[Field, ...] = ()  # typed like request fields; ``default`` is the value until changed
    jobs: tuple[str, ...] = ()  # modules declaring dramatiq actors and a ``PERIODIC_JOBS`` list
    exports: tuple[Export, ...] = ()
    migrations: Path | None = None  # a folder of Alembic revisions: a branch of the tenant chain
    audit_labels: Mapping[str, Label] = dataclasses.field(default_factory=dict)
    skill_labels: Mapping[str, Label] = dataclasses.field(default_factory=dict)  # matching.skills named
    notices: Mapping[str, Notice] = dataclasses.field(default_factory=dict)  # purpose → its wording
    retention: tuple[Retention, ...] = ()  # shown in the privacy notice (``bippop.legal``)

    def __post_init__(self) -> None:
        if not SLUG.fullmatch(self.slug):
            raise ValueError(f"module slug {self.slug!r} must match {SLUG.pattern}")
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError(f"module {self.slug}: two fields share a name")
        unknown_hooks = set(self.hooks) - HOOKS
        if unknown_hooks:
            raise ValueError(f"module {self.slug}: unknown hooks {sorted(unknown_hooks)}")
        # A module's actions and settings are its own: named after its slug, they cannot take the core's.
        for permission in self.permissions:
            if not permission.action.startswith(f"{self.slug}."):
                raise ValueError(
                    f"module {self.slug}: action {permission.action!r} must start with '{self.slug}.'"
                )
        for export in self.exports:
            if export.action not in {p.action for p in self.permissions}:
                raise ValueError(f"module {self.slug}: export {export.key!r} needs one of its own actions")
        # A page of this portal, never another host's (``//host`` or ``https://…``).
        paths = [link.path for link in self.links] + [n.path for n in self.notices.values() if n.path]
        for path in paths:
            if not path.startswith("/") or path.startswith("//") or "\\" in path:
                raise ValueError(f"module {self.slug}: {path!r} must be a path of the portal, like /page")
        for setting in self.settings:
            if setting.required and setting.default is None:
                raise ValueError(f"module {self.slug}: setting {setting.name!r} needs a default")

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)

    @property
    def textareas(self) -> frozenset[str]:
        """The fields typed on several lines: their text may hold line breaks and tabs."""
        return frozenset(f.name for f in self.fields if f.kind == "textarea")

    def validate(self, form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The cleaned details and the errors (field name → message in the current language)."""
        return validate_fields(self.fields, form)

    def describe(self, details: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(label, shown value) of each filled field, for pages that show a request."""
        shown = []
        for field in self.fields:
            value = details.get(field.name)
            if value in (None, "", []):
                continue
            shown.append((str(field.label), display_value(field, value)))
        return shown


def display_value(field: Field, value: Any) -> str:
    if field.kind == "choice":
        return field.choice_label(str(value))
    if field.kind == "choices":
        return ", ".join(field.choice_label(str(v)) for v in value)
    if field.kind == "boolean":
        return _("Yes") if value else _("No")
    if field.kind == "money":
        return formats.money(value)  # « 12,50 € », « €12.50 »
    if field.kind == "date":
        return formats.day(datetime.date.fromisoformat(str(value)))
    if field.kind == "integer":
        return formats.number(value)
    return str(value)


def _values(form: Mapping[str, Any], name: str) -> list[str]:
    getall = getattr(form, "getall", None)
    if getall is not None:
        return [str(v) for v in getall(name, [])]
    raw = form.get(name)
    if raw is None:
        return []
    return [str(v) for v in raw] if isinstance(raw, list | tuple) else [str(raw)]


def validate_fields(
    fields: Sequence[Field], form: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    # Over 60 lines: one branch per field kind, side by side, so a new kind is added in one place.
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        values = [v.strip() for v in _values(form, field.name)]
        first = values[0] if values else ""
        invisible = field_problem(values, multiline=field.kind == "textarea")
        if invisible:
            errors[field.name] = invisible
            continue
        if field.kind == "boolean":
            clean[field.name] = first in ("on", "true", "1", "yes", "oui")
            continue
        if field.kind == "choices":
            allowed = {c.value for c in field.choices}
            chosen = [v for v in values if v]
            if any(v not in allowed for v in chosen):
                errors[field.name] = _("Choose among the options offered.")
            elif field.required and not chosen:
                errors[field.name] = _("Choose at least one option.")
            else:
                clean[field.name] = chosen
            continue
        if not first:
            if field.required:
                errors[field.name] = (
                    _("Choose an option.") if field.kind == "choice" else _("This information is needed.")
                )
            continue
        if field.kind in ("text", "textarea"):
            if len(first) > field.max_length:
                errors[field.name] = _("At most %(n)d characters, please.") % {"n": field.max_length}
            else:
                clean[field.name] = first
        elif field.kind == "choice":
            if first not in {c.value for c in field.choices}:
                errors[field.name] = _("Choose among the options offered.")
            else:
                clean[field.name] = first
        elif field.kind == "integer":
            try:
                number = int(first)
            except ValueError:
                errors[field.name] = _("Enter a whole number, like 3.")
                continue
            if (field.minimum is not None and number < field.minimum) or (
                field.maximum is not None and number > field.maximum
            ):
                errors[field.name] = _("Enter a number between %(min)s and %(max)s.") % {
                    "min": field.minimum,
                    "max": field.maximum,
                }
            else:
                clean[field.name] = number
        elif field.kind == "money":
            try:
                amount = Decimal(first.replace(",", ".").replace("€", "").replace(" ", ""))
            except InvalidOperation:
                amount = Decimal("NaN")
            if not amount.is_finite():  # "NaN" and "Infinity" parse as decimals
                errors[field.name] = _("Enter an amount in euros, like 25 or 12,50.")
                continue
            if amount < 0 or amount > (field.maximum or 10_000) or amount.as_tuple().exponent < -2:  # type: ignore[operator]
                errors[field.name] = _("Enter an amount in euros, like 25 or 12,50.")
            else:
                clean[field.name] = str(amount.quantize(Decimal("0.01")))
        elif field.kind == "date":
            try:
                clean[field.name] = _parse_date(first).isoformat()
            except ValueError:
                errors[field.name] = _("Enter a date like 14/03/2027.")
    return clean, errors


def _parse_date(text: str) -> datetime.date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.date.fromisoformat(text)
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if not match:
        raise ValueError(text)
    day, month, year = (int(g) for g in match.groups())
    return datetime.date(year, month, day)
