"""File storage backends: a local directory, or an S3-compatible bucket.

Both speak the same synchronous :class:`Storage` protocol with the same key rules
(:func:`bippop.storage.keys.check_key`), so code tested on one runs on the other.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bippop.config import Settings, SettingsError, describe_url
from bippop.storage.keys import InvalidKey, check_key, check_prefix, tenant_key, tenant_prefix
from bippop.tenants.context import TenantRef, require_tenant

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_CONTENT_TYPE = "application/octet-stream"

# S3 DeleteObjects accepts at most 1000 keys per call.
DELETE_BATCH = 1000

BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageUnavailable(RuntimeError):
    """The file storage cannot be reached or written; the message names it, never a secret."""


@runtime_checkable
class Storage(Protocol):
    """Where files live. Keys are relative POSIX paths; prefixes match whole segments."""

    def put(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None: ...

    def get(self, key: str) -> bytes:
        """The content, or ``FileNotFoundError``."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Removes the key; nothing happens when it is missing."""
        ...

    def list(self, prefix: str) -> builtins.list[str]:
        """Every key under the folder ``prefix`` (``""``: all keys), sorted."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Removes every key under the folder ``prefix``; returns how many."""
        ...

    def ping(self) -> None:
        """Raises :class:`StorageUnavailable` when the storage cannot be reached or written."""
        ...

    def url_for(self, key: str, expires: int = 300) -> str | None:
        """A time-limited URL to download the key directly, or ``None`` when the backend has none."""
        ...


def _non_empty_prefix(prefix: str) -> str:
    folder = check_prefix(prefix)
    if not folder:
        # One missing argument must not wipe every tenant at once.
        raise InvalidKey("delete_prefix refuse un préfixe vide : il effacerait tout le stockage.")
    return folder


# Local directory -------------------------------------------------------------------

TEMP_PREFIX = ".bippop-tmp-"


class LocalStorage:
    """Files under ``root``; writes are atomic (temporary file in the same directory, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _check_key(self, key: str) -> str:
        check_key(key)
        if any(segment.startswith(TEMP_PREFIX) for segment in key.split("/")):
            raise InvalidKey(f"Clé de stockage {key!r} refusée : « {TEMP_PREFIX} » est réservé.")
        return key

    def _path(self, key: str) -> Path:
        path = self.root / self._check_key(key)
        # resolve() follows symbolic links: one pointing outside root must not lead there.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidKey(f"Clé de stockage {key!r} refusée : elle sort du dossier de stockage.")
        return path

    def _folder(self, prefix: str) -> Path:
        folder = check_prefix(prefix)
        return self._path(folder[:-1]) if folder else self.root

    def put(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        path = self._path(key)
        # A concurrent delete may prune the freshly made parent directory: make it again.
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            # A directory or a path through a file is not a key, as on S3.
            raise FileNotFoundError(f"Fichier introuvable : {key}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            # PermissionError: what macOS raises on unlinking a directory, which is no key.
            if path.is_file():
                raise
            return
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        """Removes now-empty directories up to (not including) root, so deleted tenants leave nothing."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def list(self, prefix: str) -> builtins.list[str]:
        folder = self._folder(prefix)
        if not folder.is_dir():
            return []
        keys: builtins.list[str] = []
        for directory, _subdirs, files in os.walk(folder):
            base = Path(directory).relative_to(self.root)
            keys.extend((base / name).as_posix() for name in files if not name.startswith(TEMP_PREFIX))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        folder = _non_empty_prefix(prefix)
        count = 0
        for key in self.list(folder):
            self._path(key).unlink(missing_ok=True)
            count += 1
        directory = self._folder(folder)
        if directory.is_dir():
            # Bottom-up, so a directory is empty by the time it is reached.
            for current, _subdirs, _files in os.walk(directory, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(current)
            self._prune(directory.parent)
        return count

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=TEMP_PREFIX)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StorageUnavailable(
                f"Stockage de fichiers local inutilisable : impossible d'écrire dans {self.root} "
                f"({exc.strerror or type(exc).__name__})."
            ) from exc

    def url_for(self, key: str, expires: int = 300) -> str | None:
        self._path(key)
        return None


# S3 ---------------------------------------------------------------------------------

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})

# What an operator should make of the usual failures.
HINTS = {
    "EndpointConnectionError": "serveur injoignable",
    "ConnectTimeoutError": "serveur injoignable",
    "ReadTimeoutError": "le serveur ne répond pas",
    "NoCredentialsError": "identifiants AWS absents (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
    "PartialCredentialsError": "identifiants AWS incomplets",
    "NoSuchBucket": "bucket introuvable",
    "404": "bucket introuvable",
    "403": "accès refusé",
    "AccessDenied": "accès refusé",
    "InvalidAccessKeyId": "identifiants refusés",
    "SignatureDoesNotMatch": "identifiants refusés",
}


class S3Storage:
    """Objects in an S3-compatible bucket, under an optional prefix; credentials from the AWS chain."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = check_prefix(prefix.strip("/"))
        self.endpoint_url = endpoint_url
        self.region = region
        config = Config(
            connect_timeout=3,
            read_timeout=10,
            retries={"max_attempts": 2},
            signature_version="s3v4",
            # Self-hosted S3 (MinIO, Garage, moto…) rarely has a DNS name per bucket.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        # A session per instance: boto3's default session is not safe to share between threads.
        session = boto3.session.Session()
        self._client: S3Client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )

    def __repr__(self) -> str:
        return f"S3Storage({self._where()})"

    def _where(self) -> str:
        where = f"bucket « {self.bucket} »"
        if self.prefix:
            where += f", préfixe « {self.prefix} »"
        if self.endpoint_url:
            where += f", point d'accès {describe_url(self.endpoint_url)}"
        return where

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _unavailable(self, exc: Exception) -> NoReturn:
        # Only an error code or class name: botocore messages are not ours to vouch for.
        if isinstance(exc, ClientError):
            detail = str(exc.response.get("Error", {}).get("Code") or "erreur inconnue")
        else:
            detail = type(exc).__name__
        hint = HINTS.get(detail)
        if hint:
            detail = f"{hint} ({detail})"
        raise StorageUnavailable(
            f"Stockage de fichiers S3 indisponible ({self._where()}) : {detail}."
        ) from exc

    @contextlib.contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Missing object → FileNotFoundError; anything else that fails → StorageUnavailable."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if key is not None and code in NOT_FOUND_CODES:
                raise FileNotFoundError(f"Fichier introuvable : {key}") from None
            self._unavailable(exc)
        except BotoCoreError as exc:
            self._unavailable(exc)

    def put(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        full_key = self._key(key)
        with self._errors():
            self._client.put_object(Bucket=self.bucket, Key=full_key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        full_key = self._key(key)
        with self._errors(key):
            response = self._client.get_object(Bucket=self.bucket, Key=full_key)
            return response["Body"].read()

    def exists(self, key: str) -> bool:
        full_key = self._key(key)
        try:
            with self._errors(key):
                self._client.head_object(Bucket=self.bucket, Key=full_key)
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        full_key = self._key(key)
        with self._errors():
            self._client.delete_object(Bucket=self.bucket, Key=full_key)

    def list(self, prefix: str) -> builtins.list[str]:
        folder = check_prefix(prefix)
        keys: builtins.list[str] = []
        with self._errors():
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + folder):
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(_non_empty_prefix(prefix))
        deleted = 0
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            with self._errors():
                response = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.prefix + key} for key in batch], "Quiet": True},
                )
            errors = response.get("Errors", [])
            deleted += len(batch) - len(errors)
            if errors:
                code = errors[0].get("Code", "erreur inconnue")
                raise StorageUnavailable(
                    f"Stockage de fichiers S3 ({self._where()}) : {len(errors)} fichier(s) non effacé(s) "
                    f"({code}) ; {deleted} effacé(s)."
                )
        return deleted

    def ping(self) -> None:
        with self._errors():
            self._client.head_bucket(Bucket=self.bucket)

    def url_for(self, key: str, expires: int = 300) -> str | None:
        full_key = self._key(key)
        with self._errors():
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": full_key}, ExpiresIn=expires
            )


# From settings ----------------------------------------------------------------------


def storage_from_settings(settings: Settings) -> Storage:
    """``BIPPOP_STORAGE_URL``: unset → ``var/files``; ``file:///abs/path``; ``s3://bucket[/prefix]``."""
    url = settings.storage_url
    if not url:
        return LocalStorage(settings.files_dir)
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise SettingsError(
                f"BIPPOP_STORAGE_URL {url!r} : un chemin absolu est attendu, par exemple file:///srv/bippop/files."
            )
        return LocalStorage(Path(path))
    if parts.scheme == "s3":
        if "@" in parts.netloc:
            raise SettingsError(
                "BIPPOP_STORAGE_URL ne doit pas contenir d'identifiants : ils viennent des variables AWS_* "
                "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) ou du profil AWS."
            )
        bucket = parts.netloc
        if not BUCKET_PATTERN.fullmatch(bucket):
            raise SettingsError(
                f"BIPPOP_STORAGE_URL {url!r} : nom de bucket invalide, attendu s3://nom-du-bucket/prefixe "
                "(le point d'accès se règle avec BIPPOP_S3_ENDPOINT_URL)."
            )
        try:
            return S3Storage(
                bucket,
                prefix=unquote(parts.path).strip("/"),
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
            )
        except InvalidKey as exc:
            raise SettingsError(f"BIPPOP_STORAGE_URL : préfixe invalide ({exc}).") from None
    raise SettingsError("BIPPOP_STORAGE_URL doit commencer par file:// ou s3://")


# Tenant files -------------------------------------------------------------------------


class TenantFiles:
    """One tenant's files: the only way tenant code touches storage; every key is ``tenants/<uuid>/…``.

    File names are given as parts (``files.put("avatars", "42.png", data)``), each checked by
    :func:`bippop.storage.keys.tenant_key`; a part may also hold ``/`` between its segments.
    """

    def __init__(self, storage: Storage, tenant: TenantRef) -> None:
        self.storage = storage
        self.tenant = tenant
        self.prefix = tenant_prefix(tenant.id)

    def __repr__(self) -> str:
        return f"TenantFiles({self.tenant.slug!r}, {self.storage!r})"

    def key(self, *parts: str) -> str:
        return tenant_key(self.tenant.id, *parts)

    def put(self, *args: str | bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        """``put(part, ..., data)``: the name parts, then the content."""
        if len(args) < 2 or not isinstance(args[-1], bytes | bytearray | memoryview):
            raise TypeError("TenantFiles.put(partie, ..., contenu) : le contenu (bytes) vient en dernier.")
        parts = args[:-1]
        if not all(isinstance(part, str) for part in parts):
            raise TypeError("TenantFiles.put : les parties du nom doivent être des chaînes.")
        self.storage.put(self.key(*(str(part) for part in parts)), bytes(args[-1]), content_type)

    def get(self, *parts: str) -> bytes:
        return self.storage.get(self.key(*parts))

    def exists(self, *parts: str) -> bool:
        return self.storage.exists(self.key(*parts))

    def delete(self, *parts: str) -> None:
        self.storage.delete(self.key(*parts))

    def url_for(self, *parts: str, expires: int = 300) -> str | None:
        return self.storage.url_for(self.key(*parts), expires)

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Names under the folder ``prefix`` of this tenant, relative to the tenant's folder."""
        folder = self.prefix
        if prefix not in ("", "/"):
            folder = self.key(prefix[:-1] if prefix.endswith("/") else prefix) + "/"
        return [key[len(self.prefix) :] for key in self.storage.list(folder) if key.startswith(self.prefix)]

    def delete_all(self) -> int:
        """Removes every file of the tenant (tenant deletion); returns how many."""
        return self.storage.delete_prefix(self.prefix)


def tenant_files(storage: Storage) -> TenantFiles:
    """The current tenant's files; raises ``NoTenant`` outside a tenant."""
    return TenantFiles(storage, require_tenant())
