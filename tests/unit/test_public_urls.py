"""The Host header check, the registered address of a tenant and ``BIPPOP_PUBLIC_URL`` (issue #9, item 1)."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from bippop.config import Settings, SettingsError
from bippop.runtime.supervisor import Supervisor
from bippop.tenants.context import TenantRef
from bippop.tenants.naming import InvalidName, hostname_from_header, normalise_hostname
from bippop.tenants.urls import tenant_url


def tenant(primary_domain: str | None = None) -> TenantRef:
    return TenantRef(
        uuid.uuid4(),
        "demo",
        "Demo",
        "commune",
        "t_demo",
        "bp_t_demo",
        "active",
        primary_domain=primary_domain,
    )


@pytest.mark.parametrize(
    ("header", "hostname"),
    [
        ("demo.localhost", "demo.localhost"),
        ("Demo.Localhost:8000", "demo.localhost"),
        ("aide.compiegne.fr.", "aide.compiegne.fr"),
        ("aide.compiegne.fr.:443", "aide.compiegne.fr"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("localhost:65535", "localhost"),
    ],
)
def test_a_plain_host_header_gives_its_host_name(header: str, hostname: str) -> None:
    assert hostname_from_header(header) == hostname


@pytest.mark.parametrize(
    "header",
    [
        "demo.localhost:8102@evil.example",
        "user@demo.localhost",
        "demo.localhost:80:81",
        "demo.localhost evil.example",
        "demo.localhost/evil",
        "demo.localhost\\evil",
        "demo.localhost\x00",
        "demo.localhost\r\nX: y",
        "demo.localhost\n",
        "demo.localhost:0",
        "demo.localhost:65536",
        "demo.localhost:",
        "demo.localhost:8o",
        ":8000",
        "",
        "[::1]:8000",
        "entraide-cœur.fr",
        "a..b",
        "x" * 300,
    ],
)
def test_anything_else_in_a_host_header_is_refused(header: str) -> None:
    with pytest.raises(InvalidName):
        hostname_from_header(header)


def test_a_domain_typed_with_user_info_keeps_the_friendly_message() -> None:
    # Registering a custom domain: a trailing port is forgiven, anything after a colon is not dropped.
    assert normalise_hostname("Aide.Compiegne.fr:8080") == "aide.compiegne.fr"
    message = re.escape("Nom de domaine « aide.compiegne.fr:1@evil.example » invalide.")
    with pytest.raises(InvalidName, match=message):
        normalise_hostname("aide.compiegne.fr:1@evil.example")


def test_links_use_the_primary_domain_else_the_subdomain_with_the_public_scheme_and_port() -> None:
    settings = Settings(env="production", base_domain="bippop.fr")
    assert tenant_url(tenant(), "/lien/x", settings) == "https://demo.bippop.fr/lien/x"
    assert tenant_url(tenant("aide.demo.fr"), "/lien/x", settings) == "https://aide.demo.fr/lien/x"
    proxied = settings.replace(public_url="https://bippop.fr:8443/")
    assert tenant_url(tenant("aide.demo.fr"), "", proxied) == "https://aide.demo.fr:8443"
    assert (
        tenant_url(tenant(), "", settings.replace(public_url="https://bippop.fr:443"))
        == "https://demo.bippop.fr"
    )
    with pytest.raises(ValueError):
        tenant_url(tenant(), "evil.example/x", settings)


def test_public_url_defaults_follow_the_environment_and_the_port_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("BIPPOP_")]:
        monkeypatch.delenv(name)
    assert Settings.from_env({"BIPPOP_ENV": "development"}).effective_public_url == "http://localhost:8000"
    assert Settings(env="test", base_domain="bippop.test").effective_public_url == "http://bippop.test"
    assert Settings(env="production", base_domain="bippop.fr").effective_public_url == "https://bippop.fr"
    # `bippop run --port 8001` hands the port to its children (web, worker, scheduler) through BIPPOP_PORT.
    env = Supervisor(Settings().replace(port=8001))._child_env(Settings().replace(port=8001))
    assert Settings.from_env(env).effective_public_url == "http://localhost:8001"
    explicit = Settings.from_env({"BIPPOP_PUBLIC_URL": "https://localhost:8443", "BIPPOP_PORT": "8001"})
    assert explicit.effective_public_url == "https://localhost:8443"


@pytest.mark.parametrize(
    "value",
    [
        "ftp://localhost",
        "https://evil.example",
        "https://user@localhost",
        "https://localhost/portail",
        "https://localhost?x=1",
        "https://localhost:99999",
        "https://localhost:0",
        "localhost:8000",
    ],
)
def test_a_public_url_that_is_not_scheme_base_domain_port_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="BIPPOP_PUBLIC_URL"):
        Settings.from_env({"BIPPOP_PUBLIC_URL": value})
