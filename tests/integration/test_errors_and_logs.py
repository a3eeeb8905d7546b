"""Unexpected failures: a calm page for the person, a log line with tenant and request id for us."""

from __future__ import annotations

import logging

import pytest
from litestar.testing import AsyncTestClient

from bippop.tenants.context import TenantRef
from support import host


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, object]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


async def test_unexpected_error_is_logged_with_tenant_and_request_id(
    client: AsyncTestClient,
    tenant: TenantRef,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*_args: object) -> str:
        raise RuntimeError("database exploded")

    monkeypatch.setattr("bippop.web.pages.tenant_default_locale", broken)
    caplog.set_level(logging.INFO)
    response = await client.get(
        "/contact", headers={**host("alpha"), "Accept": "text/html", "X-Request-ID": "req-0123456789"}
    )
    assert response.status_code == 500
    assert "<h1>" in response.text and "exploded" not in response.text
    [error] = _events(caplog, "unexpected_error")
    assert error["request_id"] == "req-0123456789"
    assert error["tenant"] == "alpha"


async def test_access_line_has_route_template_not_raw_path(
    client: AsyncTestClient, tenant: TenantRef, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await client.get(
        "/langue?lang=en&next_url=/contact%3Femail%3Djeanne%40example.fr",
        headers=host("alpha"),
        follow_redirects=False,
    )
    [line] = _events(caplog, "request")
    assert line["route"] == "/langue"
    assert line["tenant"] == "alpha"
    assert line["status"] == 303
    assert isinstance(line["duration_ms"], float)
    assert "jeanne" not in repr(line)
