"""S3Storage against a real S3 API server (moto's, in a thread of the test process)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

from bippop.config import Settings
from bippop.storage import S3Storage, Storage, StorageUnavailable, TenantFiles, storage_from_settings
from bippop.tenants.context import TenantRef

SECRET = "ne-pas-divulguer-7c1e0f9a2b"
REGION = "eu-west-3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        # Dummy credentials for the whole module, whatever the developer's own AWS set-up.
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def bucket(endpoint: str) -> str:
    name = f"bippop-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def raw(endpoint: str) -> Any:
    """A plain boto3 client, to see what really is in the bucket."""
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


@pytest.fixture
def storage(endpoint: str, bucket: str) -> S3Storage:
    return S3Storage(bucket, prefix="bippop/", endpoint_url=endpoint, region=REGION)


def count_calls(storage: S3Storage, operation: str) -> list[int]:
    calls: list[int] = []
    storage._client.meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(1))
    return calls


def test_is_a_storage(storage: S3Storage) -> None:
    assert isinstance(storage, Storage)
    storage.ping()


def test_put_get_exists_delete(storage: S3Storage, raw: Any, bucket: str) -> None:
    assert not storage.exists("a/b.txt")
    storage.put("a/b.txt", b"bonjour", "text/plain; charset=utf-8")
    assert storage.exists("a/b.txt")
    assert storage.get("a/b.txt") == b"bonjour"
    head = raw.head_object(Bucket=bucket, Key="bippop/a/b.txt")
    assert head["ContentType"] == "text/plain; charset=utf-8"
    storage.put("a/b.txt", b"au revoir")
    assert storage.get("a/b.txt") == b"au revoir"
    assert raw.head_object(Bucket=bucket, Key="bippop/a/b.txt")["ContentType"] == "application/octet-stream"
    storage.delete("a/b.txt")
    assert not storage.exists("a/b.txt")
    storage.delete("a/b.txt")  # missing: no error


def test_get_missing_raises_file_not_found(storage: S3Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.get("absent.txt")


def test_bad_keys_never_reach_the_server(storage: S3Storage) -> None:
    calls = count_calls(storage, "*")
    for key in ("/a", "../a", "a/../../b", "a//b", "a\\b", "a\x00b"):
        with pytest.raises(ValueError):
            storage.put(key, b"x")
        with pytest.raises(ValueError):
            storage.get(key)
        with pytest.raises(ValueError):
            storage.url_for(key)
    assert calls == []


def test_list_strips_the_prefix_and_matches_whole_segments(storage: S3Storage, raw: Any, bucket: str) -> None:
    raw.put_object(Bucket=bucket, Key="ailleurs/x", Body=b"hors du prefixe")
    for key in ("b/2", "b/1", "a/x/y", "ab/1", "top"):
        storage.put(key, key.encode())
    assert storage.list("") == ["a/x/y", "ab/1", "b/1", "b/2", "top"]
    assert storage.list("a") == ["a/x/y"]
    assert storage.list("a/") == ["a/x/y"]
    assert storage.list("absent") == []


def test_presigned_url(storage: S3Storage) -> None:
    storage.put("docs/compte rendu.pdf", b"%PDF-1.7 contenu", "application/pdf")
    url = storage.url_for("docs/compte rendu.pdf", expires=60)
    assert url is not None
    assert "X-Amz-Expires=60" in url
    assert SECRET not in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.7 contenu"
    assert response.headers["content-type"] == "application/pdf"
    missing = storage.url_for("docs/absent.pdf")
    assert missing is not None
    assert httpx.get(missing).status_code == 404


def test_pagination_over_a_thousand_keys(storage: S3Storage, bucket: str) -> None:
    keys = [f"t/1/{i:04d}" for i in range(1005)]
    # Seeded straight into moto's in-process backend: 1005 HTTP PUTs would take seconds.
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, storage.prefix + key, b"x")
    assert storage.get("t/1/0999") == b"x"
    storage.put("t/10/garde", b"x")
    storage.put("t/1b", b"x")

    list_calls = count_calls(storage, "ListObjectsV2")
    assert storage.list("t/1") == keys
    assert len(list_calls) == 2  # 1000 + 5: the paginator was followed

    delete_calls = count_calls(storage, "DeleteObjects")
    assert storage.delete_prefix("t/1/") == 1005
    assert len(delete_calls) == 2  # batches of at most 1000
    assert storage.list("t/1") == []
    assert storage.list("") == ["t/10/garde", "t/1b"]
    with pytest.raises(ValueError):
        storage.delete_prefix("")


def test_tenant_files_on_s3(storage: S3Storage) -> None:
    def tenant(slug: str) -> TenantRef:
        return TenantRef(uuid.uuid4(), slug, slug, "commune", f"t_{slug}", f"bp_{slug}", "active")

    files_a, files_b = TenantFiles(storage, tenant("alpha")), TenantFiles(storage, tenant("beta"))
    files_a.put("avatars", "1.png", b"A", content_type="image/png")
    files_b.put("avatars", "1.png", b"B")
    assert files_a.get("avatars", "1.png") == b"A"
    assert files_b.list() == ["avatars/1.png"]
    url = files_a.url_for("avatars", "1.png")
    assert url is not None and httpx.get(url).content == b"A"
    assert files_a.delete_all() == 1
    assert files_b.get("avatars", "1.png") == b"B"


def test_storage_from_settings_s3(endpoint: str, bucket: str) -> None:
    backend = storage_from_settings(
        Settings(storage_url=f"s3://{bucket}/env/test", s3_endpoint_url=endpoint, s3_region=REGION)
    )
    backend.ping()
    backend.put("x.txt", b"x")
    assert backend.list("") == ["x.txt"]
    assert isinstance(backend, S3Storage)
    assert backend._client.list_objects_v2(Bucket=bucket)["Contents"][0]["Key"] == "env/test/x.txt"


def test_ping_fails_on_missing_bucket(endpoint: str) -> None:
    with pytest.raises(StorageUnavailable, match="absent-bucket") as caught:
        S3Storage("absent-bucket", endpoint_url=endpoint, region=REGION).ping()
    assert SECRET not in str(caught.value)


def test_unreachable_server(endpoint: str) -> None:
    port = free_port()
    storage = S3Storage("bippop", endpoint_url=f"http://user:motdepasse@127.0.0.1:{port}", region=REGION)
    with pytest.raises(StorageUnavailable) as caught:
        storage.ping()
    message = str(caught.value)
    assert "S3" in message and f"127.0.0.1:{port}" in message
    assert SECRET not in message and SECRET not in repr(caught.value)
    assert "motdepasse" not in message and "testing" not in message
    with pytest.raises(StorageUnavailable):
        storage.put("a", b"x")
    with pytest.raises(StorageUnavailable):
        storage.get("a")
    with pytest.raises(StorageUnavailable):
        storage.list("")
