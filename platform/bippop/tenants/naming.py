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
# A request's Host header is exactly ``hostname[:port]``: no user info, spaces, slashes, second port.
HOST_HEADER_PATTERN = re.compile(r"(?P<name>[A-Za-z0-9.-]{1,254})(?::(?P<port>[0-9]{1,5}))?")
PORT_SUFFIX = re.compile(r"(?P<name>.*):[0-9]{1,5}")

# Host labels the platform keeps for itself under the base domain.
RESERVED_SLUGS = frozenset(
    {"www", "coop", "api", "admin", "static", "mail", "smtp", "platform", "public", "status", "docs", "aide"}
)
# Also refused to a council choosing its address in the sign-up wizard (``demo`` is the demo commune's,
# which the operator creates; the others would read as the platform's own pages).
SIGNUP_RESERVED_SLUGS = RESERVED_SLUGS | frozenset(
    {"demo", "test", "support", "help", "contact", "inscription", "creation", "connexion", "assets", "cdn"}
    # What mail clients and servers look up under a domain (a portal there could catch their requests).
    | {
        "autodiscover",
        "autoconfig",
        "mta-sts",
        "webmail",
        "imap",
        "pop",
        "pop3",
        "ns1",
        "ns2",
        "mx",
        "bippop",
    }
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
    # Only a trailing ``:<port>`` goes; "x.fr:1@evil.example" stays whole, and is refused below.
    with_port = PORT_SUFFIX.fullmatch(host)
    host = with_port["name"] if with_port else host
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidName(f"Nom de domaine « {host} » invalide.") from None
    if not HOSTNAME_PATTERN.fullmatch(host):
        raise InvalidName(f"Nom de domaine « {host} » invalide.")
    return host


# Names that never reach a council's portal on the internet (RFC 6761, 6762, 7686, 8375).
PRIVATE_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "test",
    "invalid",
    "example",
    "onion",
    "arpa",
    "home.arpa",
    "lan",
)


def is_public_hostname(host: str) -> bool:
    """A normalised host name that can be registered on the internet: two labels at least, an
    alphabetic top-level label (no IP address, ``0x7f.1`` included), no private suffix."""
    labels = host.split(".")
    top = labels[-1]
    if len(labels) < 2 or not (top.isalpha() or top.startswith("xn--")):
        return False
    return not any(host == suffix or host.endswith("." + suffix) for suffix in PRIVATE_SUFFIXES)


def hostname_from_header(value: str) -> str:
    """The host name a request's ``Host`` header names, lower-case, without port or trailing dot.

    Stricter than ``normalise_hostname`` (which is for people typing a domain): the header must be
    exactly ``hostname[:port]``, ASCII, with a port from 1 to 65535, or InvalidName is raised.
    """
    found = HOST_HEADER_PATTERN.fullmatch(value)
    if found is None or (found["port"] is not None and not 1 <= int(found["port"]) <= 65535):
        raise InvalidName("invalid Host header")
    name = found["name"].lower()
    name = name[:-1] if name.endswith(".") else name
    if not HOSTNAME_PATTERN.fullmatch(name):
        raise InvalidName("invalid Host header")
    return name
