"""Storage keys: validated POSIX relative paths, and the one way to build a tenant's key.

Every tenant file lives under ``tenants/<uuid>/``; a key that could climb out of its
tenant's folder (``..``, an absolute path, a backslash, a control character) is refused
before any backend sees it.
"""

from __future__ import annotations

import unicodedata
import uuid

from bippop.tenants.files import FILES_ROOT, files_prefix

TENANTS_ROOT = FILES_ROOT  # the tenancy core names the folder; keys here are checked against it

# S3 refuses keys over 1024 bytes and most file systems names over 255 bytes: both backends
# refuse the same keys, so that code tested on one does not break on the other.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255


class InvalidKey(ValueError):
    """A storage key or file name the platform refuses; the message says why, for a person."""


def _refuse_characters(text: str, what: str) -> None:
    if "\\" in text:
        raise InvalidKey(f"{what} {text!r} refusé : la barre oblique inverse (\\) est interdite.")
    for char in text:
        # Cc: NUL and control characters; Cs: lone surrogates, which no file system or S3 accepts.
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidKey(f"{what} {text!r} refusé : il contient un caractère de contrôle.")


def check_key(key: str) -> str:
    """``key`` itself when it is a safe relative POSIX path, otherwise :class:`InvalidKey`."""
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"Clé de stockage {key!r} refusée : elle doit être une chaîne non vide.")
    _refuse_characters(key, "Clé de stockage")
    if key.startswith("/"):
        raise InvalidKey(f"Clé de stockage {key!r} refusée : elle ne doit pas commencer par « / ».")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"Clé de stockage refusée : plus de {MAX_KEY_BYTES} octets.")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"Clé de stockage {key!r} refusée : segments vides, « . » et « .. » interdits.")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidKey(f"Clé de stockage refusée : un segment dépasse {MAX_SEGMENT_BYTES} octets.")
    return key


def check_prefix(prefix: str) -> str:
    """A folder prefix normalised to ``""`` (everything) or ``"a/b/"``; keys match by whole segments."""
    if prefix == "":
        return ""
    trimmed = prefix[:-1] if prefix.endswith("/") else prefix
    return check_key(trimmed) + "/"


def tenant_prefix(tenant_id: uuid.UUID) -> str:
    """``tenants/<uuid>/``: the folder holding every file of one tenant."""
    if not isinstance(tenant_id, uuid.UUID):
        raise InvalidKey(f"Identifiant de locataire {tenant_id!r} refusé : un UUID est attendu.")
    return files_prefix(tenant_id)


def check_part(part: str) -> str:
    """One part of a tenant file name; it may hold ``/`` between non-empty segments."""
    if not isinstance(part, str) or not part:
        raise InvalidKey(f"Nom de fichier {part!r} refusé : il doit être une chaîne non vide.")
    _refuse_characters(part, "Nom de fichier")
    if part.startswith("/"):
        raise InvalidKey(f"Nom de fichier {part!r} refusé : un chemin absolu est interdit.")
    if ".." in part:
        raise InvalidKey(f"Nom de fichier {part!r} refusé : « .. » est interdit.")
    if any(segment in ("", ".") for segment in part.split("/")):
        raise InvalidKey(f"Nom de fichier {part!r} refusé : segments vides et « . » interdits.")
    return part


def tenant_key(tenant_id: uuid.UUID, *parts: str) -> str:
    """``tenants/<uuid>/<parts joined by />``, or :class:`InvalidKey` (a ``ValueError``)."""
    if not parts:
        raise InvalidKey("Nom de fichier manquant : au moins une partie est nécessaire.")
    key = tenant_prefix(tenant_id) + "/".join(check_part(part) for part in parts)
    # The whole key is checked again: length limits, and a second guard should check_part ever loosen.
    return check_key(key)
