"""Unexpected failures: a calm page for the person, a log line with tenant and request id for us."""

from __future__ import annotations

import io
import json
import logging
import socket
import time

import pytest
import structlog
from litestar.testing import AsyncTestClient, TestClient
from sqlalchemy.engine import make_url

from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, host, log_in, make_person


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


# Secrets never reach the log, whatever the format -------------------------------------------------

KNOWN_PASSWORD = "Violette-Brouillard-Secret-8841"


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_an_error_logs_neither_the_password_nor_the_session(
    settings: Settings,
    resources: PlatformResources,
    tenant: TenantRef,
    monkeypatch: pytest.MonkeyPatch,
    log_format: str,
) -> None:
    """The form carried a password, the cookie a session id: the error's log line (its traceback too)
    holds neither, nor the e-mail address, and still names the tenant and the request."""
    _, email, _ = make_person(resources, tenant, ["volunteer"])
    app = create_app(settings.replace(log_format=log_format, log_level="INFO"))
    written = io.StringIO()
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)

    def broken(_session: object, address: str, password: str) -> None:
        raise RuntimeError(f"cannot check the password of {address}")

    with TestClient(app, base_url=f"http://{BASE_DOMAIN}") as web:
        log_in(web, "alpha", email)
        session_id = str(web.cookies.get("bippop_session"))
        token = str(web.cookies.get("csrftoken"))
        monkeypatch.setattr("bippop.accounts.services.authenticate", broken)
        answer = web.post(
            "/connexion",
            data={"email": email, "password": KNOWN_PASSWORD, "_csrf_token": token},
            headers={**host("alpha"), "Accept": "text/html", "X-Request-ID": "req-secret-0001"},
            follow_redirects=False,
        )
        # And what code may log by name is masked too.
        structlog.get_logger("bippop.test").warning(
            "probe", password=KNOWN_PASSWORD, session=session_id, phone="06 12 34 56 78", note=email
        )
    assert answer.status_code == 500
    output = written.getvalue()
    assert "cannot check the password of" in output and "Traceback" in output
    for secret in (KNOWN_PASSWORD, session_id, token, email, "06 12 34 56 78"):
        assert secret not in output, secret
    [line] = [line for line in output.splitlines() if "unexpected_error" in line]
    if log_format == "json":
        error = json.loads(line)
        assert error["tenant"] == "alpha" and error["request_id"] == "req-secret-0001"
        assert "Traceback" in error["exception"]
    else:
        assert "tenant=alpha" in line and "request_id=req-secret-0001" in line


# The access line says what the person got ---------------------------------------------------------


async def test_the_access_line_records_the_real_status(
    client: AsyncTestClient,
    tenant: TenantRef,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)

    async def broken(*_args: object) -> str:
        raise RuntimeError("database exploded")

    html = {**host("alpha"), "Accept": "text/html"}
    answers = {
        # No CSRF token: refused by the CSRF middleware.
        "req-status-403": await client.post(
            "/connexion", data={"email": "a@example.org"}, headers={**html, "X-Request-ID": "req-status-403"}
        ),
        "req-status-404": await client.get("/nulle-part", headers={**html, "X-Request-ID": "req-status-404"}),
        "req-status-413": await client.post(
            "/connexion",
            content=b"email=" + b"a" * 11_000_000,
            headers={
                **html,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Request-ID": "req-status-413",
            },
        ),
    }
    monkeypatch.setattr("bippop.web.pages.tenant_default_locale", broken)
    answers["req-status-500"] = await client.get(
        "/contact", headers={**html, "X-Request-ID": "req-status-500"}
    )
    logged = {line["request_id"]: line["status"] for line in _events(caplog, "request")}
    for request_id, answer in answers.items():
        expected = int(request_id.rsplit("-", 1)[1])
        assert answer.status_code == expected, (request_id, answer.status_code)
        assert logged[request_id] == expected, (request_id, logged.get(request_id))
        assert answer.headers["x-request-id"] == request_id


# PostgreSQL down: a calm 503, at once -------------------------------------------------------------


def _closed_port() -> int:
    """A port on this machine where nothing listens: connecting is refused, as with a stopped server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_while_postgresql_is_down_pages_answer_a_calm_503_at_once(
    client: AsyncTestClient, settings: Settings, tenant: TenantRef, caplog: pytest.LogCaptureFixture
) -> None:
    # The tenant's host is in the shared host cache (a page was served while the database was up).
    assert (await client.get("/", headers=host("alpha"))).status_code == 200
    down = make_url(settings.database_url or "").set(host="127.0.0.1", port=_closed_port())
    app = create_app(settings.replace(database_url=down.render_as_string(hide_password=False)))
    logging.getLogger().addHandler(caplog.handler)  # create_app has set the root logger's handlers anew
    caplog.set_level(logging.INFO)
    async with AsyncTestClient(app, base_url=f"http://{BASE_DOMAIN}") as web:
        for attempt in range(3):
            started = time.perf_counter()
            page = await web.get(
                "/contact",
                headers={**host("alpha"), "Accept": "text/html", "X-Request-ID": f"req-db-down-{attempt}"},
            )
            elapsed = time.perf_counter() - started
            assert page.status_code == 503, page.text
            assert elapsed < 1.5, elapsed
            assert "Le service fait une courte pause" in page.text and "Alphaville" in page.text
            assert page.headers["retry-after"] == "30"
        # A host nobody has asked for yet needs the database to be resolved: a plain 503, as quickly.
        started = time.perf_counter()
        unknown = await web.get(
            "/", headers={"Host": f"nouvelle.{BASE_DOMAIN}", "X-Request-ID": "req-db-down-x"}
        )
        assert unknown.status_code == 503 and time.perf_counter() - started < 1.5
    logged = _events(caplog, "database_unavailable")
    assert [line["request_id"] for line in logged] == [
        *(f"req-db-down-{n}" for n in range(3)),
        "req-db-down-x",
    ]
    assert all(line["tenant"] == "alpha" for line in logged[:3])
    assert not _events(caplog, "unexpected_error")
    statuses = {line["request_id"]: line["status"] for line in _events(caplog, "request")}
    assert statuses["req-db-down-0"] == statuses["req-db-down-x"] == 503
