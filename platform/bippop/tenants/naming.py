"""Slugs, schema names and role names, validated before any SQL sees them."""

from __future__ import annotations

import hashlib
import re

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
IDENTIFIER_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCHEMA_PATTERN = re.compile(r"^t_[a-z][a-z0-9_]{1,38}[a-z0-9]$")
HOSTNAME_PATTERN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)

# Host labels the platform keeps for itself under the base domain.
RESERVED_SLUGS = frozenset(
    {"www", "coop", "api", "admin", "static", "mail", "smtp", "platform", "public", "status", "docs", "aide"}
)


class InvalidName(ValueError):
    """A slug, host or identifier that the platform refuses; the message is for a person."""


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.fullmatch(slug) or "--" in slug:
        raise InvalidName(
            f"Identifiant « {slug} » invalide : 3 à 40 caractères, lettres minuscules sans accent, "
            "chiffres et tirets, commençant par une lettre (exemple : compiegne)."
        )
    if slug in RESERVED_SLUGS:
        raise InvalidName(f"L'identifiant « {slug} » est réservé par la plateforme ; choisissez-en un autre.")
    return slug


def schema_for(slug: str) -> str:
    return "t_" + validate_slug(slug).replace("-", "_")


def role_for(schema: str, database: str) -> str:
    """Roles are cluster-wide: the database's hash keeps two databases of one cluster apart."""
    digest = hashlib.sha256(database.encode()).hexdigest()[:6]
    return checked_identifier(f"bp{digest}_{schema}")


def apps_group_for(database: str) -> str:
    digest = hashlib.sha256(database.encode()).hexdigest()[:6]
    return checked_identifier(f"bp{digest}_apps")


def checked_identifier(name: str) -> str:
    if not IDENTIFIER_PATTERN.fullmatch(name):
        raise InvalidName(f"invalid SQL identifier {name!r}")
    return name


def quoted(name: str) -> str:
    """A validated identifier, double-quoted for DDL."""
    return f'"{checked_identifier(name)}"'


def normalise_hostname(host: str) -> str:
    """Lower-case, no port, no trailing dot; raises InvalidName when it cannot be a host name."""
    host = host.strip().lower()
    if host.startswith("["):
        raise InvalidName("Adresse IP : utilisez un nom de domaine.")
    host = host.rsplit(":", 1)[0] if ":" in host else host
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidName(f"Nom de domaine « {host} » invalide.") from None
    if not HOSTNAME_PATTERN.fullmatch(host):
        raise InvalidName(f"Nom de domaine « {host} » invalide.")
    return host
