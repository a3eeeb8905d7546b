"""Local file storage, key validation and tenant isolation of files."""

from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bippop.config import Settings, SettingsError
from bippop.storage import (
    InvalidKey,
    LocalStorage,
    S3Storage,
    Storage,
    StorageUnavailable,
    TenantFiles,
    check_key,
    storage_from_settings,
    tenant_files,
    tenant_key,
)
from bippop.tenants.context import NoTenant, TenantRef, tenant_scope

TENANT_ID = uuid.UUID("6f1c1d7e-2a51-4a8e-9d3e-0b6c5a0e4f11")


def make_tenant(slug: str) -> TenantRef:
    return TenantRef(
        id=uuid.uuid4(),
        slug=slug,
        name=slug.title(),
        kind="commune",
        schema=f"t_{slug}",
        role=f"bp_t_{slug}",
        status="active",
    )


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


# LocalStorage --------------------------------------------------------------------------


def test_local_storage_is_a_storage(storage: LocalStorage) -> None:
    assert isinstance(storage, Storage)


def test_put_get_exists_delete(storage: LocalStorage) -> None:
    assert not storage.exists("a/b.txt")
    storage.put("a/b.txt", b"bonjour")
    assert storage.exists("a/b.txt")
    assert storage.get("a/b.txt") == b"bonjour"
    assert (storage.root / "a" / "b.txt").read_bytes() == b"bonjour"
    storage.put("a/b.txt", b"au revoir", "text/plain")
    assert storage.get("a/b.txt") == b"au revoir"
    storage.delete("a/b.txt")
    assert not storage.exists("a/b.txt")
    # Emptied directories go too, so a deleted tenant leaves nothing behind.
    assert not (storage.root / "a").exists()


def test_get_missing_raises_file_not_found(storage: LocalStorage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.get("absent.txt")
    storage.put("dossier/fichier", b"x")
    with pytest.raises(FileNotFoundError):
        storage.get("dossier")  # a directory is not a key
    with pytest.raises(FileNotFoundError):
        storage.get("dossier/fichier/plus-loin")
    assert not storage.exists("dossier")


def test_delete_missing_is_silent(storage: LocalStorage) -> None:
    storage.delete("absent.txt")
    storage.put("dossier/fichier", b"x")
    storage.delete("dossier")  # a directory is not a key either
    storage.delete("dossier/fichier/plus-loin")
    assert storage.exists("dossier/fichier")


def test_list_is_sorted_and_matches_whole_segments(storage: LocalStorage) -> None:
    for key in ("b/2", "b/1", "a/x/y", "a/x/z", "ab/1", "top"):
        storage.put(key, key.encode())
    assert storage.list("") == ["a/x/y", "a/x/z", "ab/1", "b/1", "b/2", "top"]
    assert storage.list("a") == ["a/x/y", "a/x/z"]
    assert storage.list("a/") == ["a/x/y", "a/x/z"]
    assert storage.list("a/x") == ["a/x/y", "a/x/z"]
    assert storage.list("absent") == []
    assert storage.list("top") == []  # a file is not a folder
    assert LocalStorage(storage.root / "nowhere").list("") == []


def test_delete_prefix(storage: LocalStorage) -> None:
    for key in ("t/1/a", "t/1/b/c", "t/10/a", "u/a"):
        storage.put(key, b"x")
    assert storage.delete_prefix("t/1") == 2
    assert storage.list("") == ["t/10/a", "u/a"]
    assert not (storage.root / "t" / "1").exists()
    assert storage.delete_prefix("t/1/") == 0
    assert storage.delete_prefix("t/") == 1
    assert not (storage.root / "t").exists()
    with pytest.raises(InvalidKey):
        storage.delete_prefix("")
    assert storage.list("") == ["u/a"]


def test_write_is_atomic(storage: LocalStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    storage.put("doc.txt", b"ancien")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disque plein")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disque plein"):
        storage.put("doc.txt", b"nouveau")
    monkeypatch.undo()
    assert storage.get("doc.txt") == b"ancien"
    # No temporary file is left behind, nor listed.
    assert sorted(p.name for p in storage.root.iterdir()) == ["doc.txt"]
    assert storage.list("") == ["doc.txt"]


def test_temporary_names_are_reserved(storage: LocalStorage) -> None:
    with pytest.raises(InvalidKey):
        storage.put("a/.bippop-tmp-x", b"x")


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../x", "a/..", "a//b", "a/", "./a", "a/./b", "a\\b", "a\x00b", "a\nb"],
)
def test_local_storage_refuses_bad_keys(storage: LocalStorage, key: str) -> None:
    for call in (
        lambda: storage.put(key, b"x"),
        lambda: storage.get(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.url_for(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert not storage.root.exists() or storage.list("") == []


def test_local_storage_refuses_symlink_escape(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.root.mkdir(parents=True)
    (storage.root / "lien").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidKey, match="sort du dossier"):
        storage.put("lien/vol.txt", b"x")
    with pytest.raises(InvalidKey):
        storage.get("lien/vol.txt")
    assert list(outside.iterdir()) == []


def test_ping(storage: LocalStorage, tmp_path: Path) -> None:
    storage.ping()
    assert storage.root.is_dir()
    assert list(storage.root.iterdir()) == []
    blocker = tmp_path / "un-fichier"
    blocker.write_bytes(b"")
    with pytest.raises(StorageUnavailable, match="local"):
        LocalStorage(blocker / "files").ping()


def test_url_for_is_none_locally(storage: LocalStorage) -> None:
    storage.put("a.txt", b"x")
    assert storage.url_for("a.txt") is None


# Settings --------------------------------------------------------------------------------


def test_storage_from_settings_defaults_to_var_files(tmp_path: Path) -> None:
    backend = storage_from_settings(Settings(var_dir=tmp_path))
    assert isinstance(backend, LocalStorage)
    assert backend.root == (tmp_path / "files").resolve()


def test_storage_from_settings_file_url(tmp_path: Path) -> None:
    backend = storage_from_settings(Settings(storage_url=f"file://{tmp_path}/mes%20fichiers"))
    assert isinstance(backend, LocalStorage)
    assert backend.root == (tmp_path / "mes fichiers").resolve()


def test_storage_from_settings_s3_url() -> None:
    backend = storage_from_settings(
        Settings(
            storage_url="s3://bip-pop-fichiers/prod/v1/",
            s3_endpoint_url="https://s3.fr-par.scw.cloud",
            s3_region="fr-par",
        )
    )
    assert isinstance(backend, S3Storage)
    assert isinstance(backend, Storage)
    assert backend.bucket == "bip-pop-fichiers"
    assert backend.prefix == "prod/v1/"
    assert backend.endpoint_url == "https://s3.fr-par.scw.cloud"
    assert backend.region == "fr-par"
    bare = storage_from_settings(Settings(storage_url="s3://bip-pop-fichiers"))
    assert isinstance(bare, S3Storage)
    assert bare.prefix == ""


@pytest.mark.parametrize(
    "url",
    [
        "file://relatif/chemin",
        "file://serveur/partage",
        "s3://",
        "s3://AKIA:secret@bucket",
        "s3://bucket:9000/x",
        "s3://bucket/a/../b",
        "ftp://x",
    ],
)
def test_storage_from_settings_refuses_bad_urls(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        storage_from_settings(Settings(storage_url=url))
    assert "secret" not in str(caught.value)


# Keys ------------------------------------------------------------------------------------


def test_tenant_key() -> None:
    assert tenant_key(TENANT_ID, "avatars", "42.png") == f"tenants/{TENANT_ID}/avatars/42.png"
    assert (
        tenant_key(TENANT_ID, "docs/2025/compte-rendu.pdf")
        == f"tenants/{TENANT_ID}/docs/2025/compte-rendu.pdf"
    )
    assert tenant_key(TENANT_ID, "Réunion du 3 mars.odt").endswith("/Réunion du 3 mars.odt")


@pytest.mark.parametrize(
    "parts",
    [
        (),
        ("",),
        ("/etc/passwd",),
        ("..",),
        ("a", ".."),
        ("../autre-locataire",),
        ("a/../../b",),
        ("fichier..txt",),
        ("a\\b",),
        ("..\\..\\b",),
        ("a\x00b",),
        ("a\x1fb",),
        ("a\x7fb",),
        ("a//b",),
        ("a/",),
        (".",),
        ("a/./b",),
        ("x" * 256,),
    ],
)
def test_tenant_key_refuses_dangerous_parts(parts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"refusé|manquant"):
        tenant_key(TENANT_ID, *parts)


def test_tenant_key_refuses_non_uuid_tenant() -> None:
    with pytest.raises(ValueError):
        tenant_key("../x", "a")  # type: ignore[arg-type]


# Characters a path attack is made of, mixed with ordinary ones.
PART = st.text(
    alphabet=st.sampled_from(["/", ".", "\\", "\x00", "\n", "\x7f", "~", "a", "é", " ", ":"]), max_size=12
)
ANY_PART = st.one_of(PART, st.text(max_size=20))


@given(st.uuids(), st.lists(ANY_PART, max_size=4))
def test_tenant_key_never_escapes(tenant_id: uuid.UUID, parts: list[str]) -> None:
    try:
        key = tenant_key(tenant_id, *parts)
    except ValueError:
        return
    prefix = f"tenants/{tenant_id}/"
    assert key.startswith(prefix)
    assert len(key) > len(prefix)
    # Normalising changes nothing: no segment can climb, no empty or "." segment hides.
    assert posixpath.normpath(key) == key
    assert posixpath.normpath(posixpath.join("/racine", key)).startswith(f"/racine/{prefix}")
    assert check_key(key) == key
    assert "\\" not in key and "\x00" not in key


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ANY_PART, min_size=1, max_size=3))
def test_tenant_files_never_write_outside_their_folder(parts: list[str]) -> None:
    tenant = make_tenant("compiegne")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "files"
        files = TenantFiles(LocalStorage(root), tenant)
        try:
            files.put(*parts, b"x")
        except ValueError:
            assert not root.exists() or not any(root.rglob("*"))
            return
        written = [p for p in root.rglob("*") if p.is_file()]
        assert len(written) == 1
        assert written[0].resolve().is_relative_to((root / "tenants" / str(tenant.id)).resolve())
        assert files.get(*parts) == b"x"


@pytest.mark.parametrize("key", ["a", "a/b/c", "é t/ü.txt", "a..b", ".cache/x"])
def test_check_key_accepts(key: str) -> None:
    assert check_key(key) == key


# TenantFiles -----------------------------------------------------------------------------


def test_two_tenants_never_see_each_other(storage: LocalStorage) -> None:
    alice, bob = make_tenant("alpha"), make_tenant("beta")
    files_a, files_b = TenantFiles(storage, alice), TenantFiles(storage, bob)
    files_a.put("avatars", "1.png", b"A", content_type="image/png")
    files_a.put("notes.txt", b"secret A")
    files_b.put("avatars", "1.png", b"B")

    assert files_a.get("avatars", "1.png") == b"A"
    assert files_b.get("avatars", "1.png") == b"B"
    assert files_a.exists("notes.txt")
    assert not files_b.exists("notes.txt")
    with pytest.raises(FileNotFoundError):
        files_b.get("notes.txt")
    assert files_a.list() == ["avatars/1.png", "notes.txt"]
    assert files_a.list("avatars") == ["avatars/1.png"]
    assert files_b.list() == ["avatars/1.png"]
    assert files_b.list("avatars/") == ["avatars/1.png"]
    assert files_a.key("notes.txt") == f"tenants/{alice.id}/notes.txt"

    # Deleting B's file of the same name leaves A's alone.
    files_b.delete("notes.txt")
    files_b.delete("avatars", "1.png")
    assert files_a.get("avatars", "1.png") == b"A"

    files_b.put("x", b"B")
    assert files_a.delete_all() == 2
    assert files_a.list() == []
    assert files_b.list() == ["x"]
    assert storage.list("tenants") == [f"tenants/{bob.id}/x"]


def test_tenant_files_refuse_escapes(storage: LocalStorage) -> None:
    alice, bob = make_tenant("alpha"), make_tenant("beta")
    TenantFiles(storage, bob).put("notes.txt", b"secret B")
    files_a = TenantFiles(storage, alice)
    for parts in (("..", str(bob.id), "notes.txt"), (f"../{bob.id}/notes.txt",), ("/tenants",)):
        with pytest.raises(ValueError):
            files_a.get(*parts)
        with pytest.raises(ValueError):
            files_a.put(*parts, b"x")
        with pytest.raises(ValueError):
            files_a.delete(*parts)
    with pytest.raises(ValueError):
        files_a.list(f"../{bob.id}")
    assert TenantFiles(storage, bob).get("notes.txt") == b"secret B"


def test_tenant_files_put_needs_data_last(storage: LocalStorage) -> None:
    files = TenantFiles(storage, make_tenant("alpha"))
    with pytest.raises(TypeError):
        files.put("a.txt")
    with pytest.raises(TypeError):
        files.put(b"x", "a.txt")


def test_tenant_files_uses_current_tenant(storage: LocalStorage) -> None:
    with pytest.raises(NoTenant):
        tenant_files(storage)
    alice = make_tenant("alpha")
    with tenant_scope(alice):
        files = tenant_files(storage)
        files.put("a.txt", b"x")
    assert files.tenant == alice
    assert storage.list("") == [f"tenants/{alice.id}/a.txt"]
