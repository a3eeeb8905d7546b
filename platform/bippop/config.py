"""Settings, read once from ``BIPPOP_*`` environment variables.

Nothing else in the code base reads ``os.environ``. An unset service URL means
"embedded": ``bippop run`` starts that service itself and hands its URL to its
children through the same variables. Every variable is documented in
``docs/configuration.md``; a test checks that the table and this class agree.

One explicit fallback (``get_settings``): a command run beside a live ``bippop run`` on the same
``BIPPOP_VAR_DIR`` takes the addresses that supervisor wrote in ``var/services.json`` for each of
the database, Redis, broker, host and port whose variable is unset.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]

ENVIRONMENTS = ("development", "test", "production")
MAIN_CLUSTER = "main"
CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
MEMORY_SIZE = re.compile(r"[1-9][0-9]*(kb|mb|gb)?", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting has a value the platform cannot use; the message says which and why."""


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} doit valoir true ou false (reçu {value!r}).")


def _int(value: str, name: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} doit être un nombre entier (reçu {value!r}).") from None
    if number < minimum:
        raise SettingsError(f"{name} doit être au moins {minimum} (reçu {number}).")
    return number


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the platform. Field ``x`` is read from ``BIPPOP_X``."""

    env: str = "development"
    database_url: str | None = None
    database_admin_url: str | None = None
    clusters: str | None = None
    redis_url: str | None = None
    broker_url: str | None = None
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Bip Pop <ne-pas-repondre@localhost>"
    coop_contact_email: str = "contact@bippop.fr"
    # The co-operative that publishes the platform and hosts every portal (legal notices, privacy notice).
    coop_name: str = "Bip Pop SCIC SAS"
    coop_address: str = "Adresse du siège à renseigner (BIPPOP_COOP_ADDRESS)"
    coop_siren: str | None = None
    coop_phone: str | None = None
    coop_publication_director: str = "la présidence de la coopérative"
    base_domain: str = "localhost"
    public_url: str | None = None
    secret_key: str | None = None
    readyz_token: str | None = None
    var_dir: Path = REPO_ROOT / "var"
    themes_dir: Path = REPO_ROOT / "themes"
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 1
    trusted_proxies: str | None = None
    redis_maxmemory: str = "256mb"
    log_level: str = "INFO"
    log_format: str = "console"
    db_pool_size: int = 10
    db_recycle_tenants: int = 100
    migrate_concurrency: int = 4
    spare_pool_size: int = 5
    seed_demo: bool = True
    worker_processes: int = 1
    worker_threads: int = 4
    job_heartbeat_seconds: int = 30
    host_cache_seconds: int = 3600
    host_cache_local_seconds: int = 1
    page_cache_seconds: int = 10
    audit_retention_days: int = 365
    reoffer_after_hours: int = 48
    session_timeouts: str | None = None
    dns_nameservers: str | None = None
    # Billing (issue 12): the seller on every invoice, and the dunning timetable.
    coop_vat_number: str | None = None  # FR + 2 key digits + SIREN
    coop_iban: str | None = None
    coop_bic: str | None = None
    coop_postcode: str = "00000"
    coop_city: str = "Ville à renseigner"
    invoice_payment_days: int = 30
    reminder_days: str = "7,21,35"  # days past the due date of the 1st, 2nd, 3rd reminders
    suspension_proposal_days: int = 60  # days past due before an operator is asked to suspend
    # Chorus Pro's API (PISTE OAuth client credentials); none set: invoices go by export only.
    chorus_api_url: str | None = None
    chorus_oauth_url: str | None = None
    chorus_client_id: str | None = None
    chorus_client_secret: str | None = None
    chorus_technical_account: str | None = None  # « login:password » of the Chorus Pro technical account
    chorus_supplier_id: str | None = None  # the co-op's structure id on Chorus Pro

    def validate_session_timeouts(self) -> None:
        if not self.session_timeouts:
            return
        message = (
            'BIPPOP_SESSION_TIMEOUTS doit être un objet JSON {"rôle": [inactivité, absolu]} en secondes '
            f"(reçu {self.session_timeouts!r})."
        )
        try:
            table = json.loads(self.session_timeouts)
        except ValueError:
            raise SettingsError(message) from None
        if not isinstance(table, dict):
            raise SettingsError(message)
        for value in table.values():
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(isinstance(v, int) and v >= 60 for v in value)
            ):
                raise SettingsError(message + " Chaque durée est un entier d'au moins 60 secondes.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            name = f"BIPPOP_{field.name.upper()}"
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            if field.type in ("int",):
                values[field.name] = _int(raw, name)
            elif field.type == "bool":
                values[field.name] = _bool(raw, name)
            elif field.type == "Path":
                values[field.name] = Path(raw).expanduser().resolve()
            else:
                values[field.name] = raw
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise SettingsError(f"BIPPOP_ENV doit valoir {', '.join(ENVIRONMENTS)} (reçu {self.env!r}).")
        if self.env == "production":
            if not self.secret_key or len(self.secret_key) < 32:
                raise SettingsError(
                    "BIPPOP_SECRET_KEY est obligatoire en production (32 caractères au moins)."
                )
            missing = [
                name
                for name, value in (
                    ("BIPPOP_DATABASE_URL", self.database_url),
                    ("BIPPOP_REDIS_URL", self.redis_url),
                    ("BIPPOP_STORAGE_URL", self.storage_url),
                )
                if not value
            ]
            if missing:
                raise SettingsError(
                    "En production, les services ne sont pas embarqués : définissez "
                    + ", ".join(missing)
                    + "."
                )
        if self.database_url and urlsplit(self.database_url).scheme.split("+")[0] not in (
            "postgresql",
            "postgres",
        ):
            raise SettingsError("BIPPOP_DATABASE_URL doit être une URL postgresql://…")
        if self.database_admin_url and urlsplit(self.database_admin_url).scheme.split("+")[0] not in (
            "postgresql",
            "postgres",
        ):
            raise SettingsError("BIPPOP_DATABASE_ADMIN_URL doit être une URL postgresql://…")
        self.cluster_urls()  # refuses a malformed BIPPOP_CLUSTERS at start-up
        if self.broker_url and urlsplit(self.broker_url).scheme not in (
            "amqp",
            "amqps",
            "redis",
            "rediss",
            "unix",
        ):
            raise SettingsError("BIPPOP_BROKER_URL doit commencer par amqp:// ou redis://")
        if self.storage_url and urlsplit(self.storage_url).scheme not in ("file", "s3"):
            raise SettingsError("BIPPOP_STORAGE_URL doit commencer par file:// ou s3://")
        self.validate_session_timeouts()
        if self.reoffer_after_hours < 1:
            raise SettingsError(
                f"BIPPOP_REOFFER_AFTER_HOURS doit être au moins 1 (reçu {self.reoffer_after_hours})."
            )
        if self.db_recycle_tenants < 0:
            raise SettingsError(
                f"BIPPOP_DB_RECYCLE_TENANTS doit être 0 (jamais) ou plus (reçu {self.db_recycle_tenants})."
            )
        if self.web_workers < 1:
            raise SettingsError(f"BIPPOP_WEB_WORKERS doit être au moins 1 (reçu {self.web_workers}).")
        if self.log_format not in ("console", "json"):
            raise SettingsError("BIPPOP_LOG_FORMAT doit valoir console ou json.")
        self.trusted_proxy_networks()  # refuses a malformed BIPPOP_TRUSTED_PROXIES at start-up
        if not MEMORY_SIZE.fullmatch(self.redis_maxmemory):
            raise SettingsError(
                f"BIPPOP_REDIS_MAXMEMORY doit être une taille comme 256mb ou 1gb (reçu {self.redis_maxmemory!r})."
            )
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", self.coop_contact_email):
            raise SettingsError(
                f"BIPPOP_COOP_CONTACT_EMAIL doit être une adresse électronique (reçu {self.coop_contact_email!r})."
            )
        self.validate_public_url()
        self.dns_nameserver_list()  # refuses a malformed BIPPOP_DNS_NAMESERVERS at start-up

    def validate_public_url(self) -> None:
        if not self.public_url:
            return
        parts = urlsplit(self.public_url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme not in ("http", "https")
            or parts.hostname != self.base_domain.lower()
            or parts.username is not None
            or parts.password is not None
            or (port is not None and port < 1)
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise SettingsError(
                "BIPPOP_PUBLIC_URL doit être de la forme https://<BIPPOP_BASE_DOMAIN>[:port], sans chemin "
                f"(reçu {self.public_url!r}, domaine de base {self.base_domain!r})."
            )

    # Derived values -------------------------------------------------------------

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def effective_public_url(self) -> str:
        """Scheme, base domain and port of every absolute link the platform writes (never the request's
        ``Host`` header): the configured one, else https in production, else http on the port served."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.env == "production":
            return f"https://{self.base_domain}"
        port = f":{self.port}" if self.is_development and self.port != 80 else ""
        return f"http://{self.base_domain}{port}"

    def trusted_proxy_networks(self) -> list[str]:
        """Addresses and networks whose ``X-Forwarded-For`` is believed: the configured ones, else
        loopback in development (``bippop run`` behind nothing or a local proxy), else none."""
        if not self.trusted_proxies:
            return ["127.0.0.1", "::1"] if self.is_development else []
        found = []
        for entry in (part.strip() for part in self.trusted_proxies.split(",")):
            if not entry:
                continue
            try:
                found.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise SettingsError(
                    "BIPPOP_TRUSTED_PROXIES : adresses ou réseaux séparés par des virgules, comme "
                    f"10.0.0.0/8,192.0.2.7 (reçu {entry!r})."
                ) from None
        return found

    def dns_nameserver_list(self) -> list[tuple[str, int]]:
        """(address, port) of the DNS servers that custom domains' TXT records are checked with; empty:
        the system's resolvers (``/etc/resolv.conf``)."""
        found = []
        for entry in (part.strip() for part in (self.dns_nameservers or "").split(",")):
            if not entry:
                continue
            match = re.fullmatch(
                r"\[(?P<v6>[0-9a-fA-F:.]+)\](?::(?P<p6>[0-9]{1,5}))?|(?P<addr>[^:\s]+|[0-9a-fA-F:]+)(?::(?P<port>[0-9]{1,5}))?",
                entry,
            )
            try:
                if match is None:
                    raise ValueError(entry)
                address = match["v6"] or match["addr"]
                port = int(match["p6"] or match["port"] or 53)
                ipaddress.ip_address(address)
                if not 1 <= port <= 65535:
                    raise ValueError(entry)
            except ValueError:
                raise SettingsError(
                    "BIPPOP_DNS_NAMESERVERS : adresses IP séparées par des virgules, chacune avec un port "
                    f"facultatif, comme 9.9.9.9,127.0.0.1:5353,[::1]:53 (reçu {entry!r})."
                ) from None
            found.append((address, port))
        return found

    @property
    def effective_admin_url(self) -> str | None:
        """Migrations and provisioning (DDL) connect with this one; the app itself never does."""
        return self.database_admin_url or self.database_url

    def cluster_urls(self) -> dict[str, tuple[str | None, str | None]]:
        """Cluster name → (app URL, admin URL). ``main`` holds the platform schema; BIPPOP_CLUSTERS adds
        others as JSON: ``{"eu-2": {"url": "postgresql://…", "admin_url": "postgresql://…"}}``."""
        found: dict[str, tuple[str | None, str | None]] = {
            MAIN_CLUSTER: (self.database_url, self.effective_admin_url)
        }
        if not self.clusters:
            return found
        try:
            extra = json.loads(self.clusters)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"BIPPOP_CLUSTERS n'est pas du JSON valide ({exc.msg}).") from None
        if not isinstance(extra, dict):
            raise SettingsError(
                'BIPPOP_CLUSTERS : un objet JSON {"nom": {"url": …, "admin_url": …}} est attendu.'
            )
        for name, spec in extra.items():
            if not CLUSTER_NAME.fullmatch(str(name)) or name == MAIN_CLUSTER:
                raise SettingsError(f"BIPPOP_CLUSTERS : nom de grappe « {name} » invalide ou réservé.")
            if not isinstance(spec, dict) or not str(spec.get("url", "")).startswith(
                ("postgresql", "postgres")
            ):
                raise SettingsError(
                    f"BIPPOP_CLUSTERS : la grappe « {name} » doit avoir une url postgresql://…"
                )
            found[name] = (spec["url"], spec.get("admin_url") or spec["url"])
        return found

    @property
    def effective_broker_url(self) -> str | None:
        """The broker defaults to the Redis server (embedded or not)."""
        return self.broker_url or self.redis_url

    @property
    def files_dir(self) -> Path:
        return self.var_dir / "files"

    def effective_secret_key(self) -> str:
        """The configured key, or (outside production) one generated once and kept in ``var/``."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def describe_url(url: str) -> str:
    """A URL without its password, for messages and logs. A PostgreSQL server on a unix socket keeps
    the form psql and ``BIPPOP_DATABASE_URL`` accept: ``postgresql://user@/db?host=/tmp/…``."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    path = parts.path if parts.scheme.startswith("postgres") else ""
    socket_dir = dict(parse_qsl(parts.query)).get("host", "")
    if not host and socket_dir:
        user = f"{unquote(parts.username)}@" if parts.username else ""
        return f"{scheme}://{user}{port}{path}?host={socket_dir}"
    return f"{scheme}://{host}{port}{path}"


# `bippop run` writes the addresses of the services it started here (under BIPPOP_VAR_DIR), and removes
# the file when it stops; other `bippop` commands on the same machine read them (``get_settings``).
RUNNING_SERVICES_FILE = "services.json"
# Setting (field of Settings) → the variable that, when set, wins over the file.
RUNNING_SERVICES_FIELDS = {
    "database_url": ("BIPPOP_DATABASE_URL",),
    "database_admin_url": ("BIPPOP_DATABASE_URL", "BIPPOP_DATABASE_ADMIN_URL"),
    "redis_url": ("BIPPOP_REDIS_URL",),
    "broker_url": ("BIPPOP_BROKER_URL", "BIPPOP_REDIS_URL"),
    "host": ("BIPPOP_HOST",),
    "port": ("BIPPOP_PORT",),
}


def process_is_alive(pid: int) -> bool:
    """``pid`` names a running process (and, where /proc tells, a ``bippop`` one: not a reused pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"bippop" in cmdline.read_bytes()
    except OSError:
        return True  # no /proc (macOS): the signal's answer is all we know


def running_services(var_dir: Path) -> dict[str, object] | None:
    """What the ``bippop run`` alive on ``var_dir`` wrote, or None (no file, unreadable, or its
    supervisor is gone: a file left by a killed run is ignored)."""
    try:
        found = json.loads((var_dir / RUNNING_SERVICES_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not process_is_alive(int(found.get("pid") or 0)):
        return None
    return found


def with_running_services(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """The documented fallback of every command run beside ``bippop run``: each service address
    whose variable is unset comes from the running supervisor's file, when it is alive. Never in
    production, where nothing is embedded and every address is configured."""
    if settings.env == "production":
        return settings
    found = running_services(settings.var_dir)
    if found is None:
        return settings
    changes: dict[str, object] = {}
    for field, variables in RUNNING_SERVICES_FIELDS.items():
        value = found.get(field)
        if value not in (None, "") and not any(environ.get(variable) for variable in variables):
            changes[field] = int(str(value)) if field == "port" else str(value)
    if not changes:
        return settings
    merged = settings.replace(**changes)
    merged.validate()
    return merged


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return with_running_services(Settings.from_env(), os.environ)
