"""Mail goes out through the outbox: a real dramatiq worker delivers to a real SMTP server on loopback;
with the server down the message waits, then goes out once it is back — exactly once."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import dramatiq
import pytest
from aiosmtpd.controller import Controller
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from bippop.app import create_app
from bippop.config import Settings
from bippop.notifications import jobs as notification_jobs
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources, platform_resources, use_resources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, DEFAULT_PASSWORD, csrf_token, host, running_worker


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def mail_settings(settings: Settings, smtp_port: int) -> Iterator[Settings]:
    """The session's settings with a real SMTP server: the worker's resources use them."""
    previous = platform_resources()
    with_smtp = settings.replace(smtp_url=f"smtp://127.0.0.1:{smtp_port}")
    resources = PlatformResources(with_smtp)
    use_resources(resources)
    try:
        yield with_smtp
    finally:
        use_resources(previous)
        resources.close()


@pytest.fixture
def worker(mail_settings: Settings) -> Iterator[dramatiq.Broker]:
    with running_worker(mail_settings) as broker:
        yield broker


def start_smtp(inbox: Inbox, port: int) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def sign_up(app: Litestar, email: str) -> None:
    with TestClient(app, base_url=f"http://{BASE_DOMAIN}") as web:
        token = csrf_token(web, "alpha")
        response = web.post(
            "/inscription",
            data={
                "display_name": "Lucie",
                "email": email,
                "password": DEFAULT_PASSWORD,
                "role": "volunteer",
                "_csrf_token": token,
            },
            headers=host("alpha"),
        )
        assert response.status_code == 200, response.text


def outbox_row(resources: PlatformResources, tenant: TenantRef, email: str) -> OutboxMessage:
    with resources.sessions()(info={"tenant": tenant}) as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == email))
    assert row is not None
    return row


def test_verification_mail_reaches_the_smtp_server(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int, tenant: TenantRef
) -> None:
    controller = start_smtp(inbox, smtp_port)
    try:
        email = f"lucie-{uuid.uuid4().hex[:6]}@example.org"
        sign_up(create_app(mail_settings), email)
        wait_for(lambda: inbox.to(email))
        (mail,) = inbox.to(email)
        assert "Confirmez votre adresse" in mail["Subject"] or "Confirm your e-mail" in mail["Subject"]
        body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "http://aide.alphaville.fr/lien/" in body  # the tenant's registered (custom) domain
        resources = platform_resources()
        wait_for(lambda: outbox_row(resources, tenant, email).status == "sent")
        row = outbox_row(resources, tenant, email)
        assert row.body == ""  # the secret link is not kept once delivered
        assert mail["Message-ID"] == f"<{row.id}@alpha.{BASE_DOMAIN}>"
    finally:
        controller.stop()


def test_smtp_down_then_back_sends_exactly_once(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int, tenant: TenantRef
) -> None:
    email = f"paul-{uuid.uuid4().hex[:6]}@example.org"
    sign_up(create_app(mail_settings), email)  # nobody listens on the SMTP port yet
    resources = platform_resources()
    wait_for(lambda: outbox_row(resources, tenant, email).attempts >= 1)
    row = outbox_row(resources, tenant, email)
    assert row.status == "pending" and row.last_error
    controller = start_smtp(inbox, smtp_port)
    try:
        wait_for(lambda: inbox.to(email), timeout=60)  # dramatiq's retry, after its back-off
        wait_for(lambda: outbox_row(resources, tenant, email).status == "sent")
        # The sweeper finds nothing left to send; a stray re-delivery of the same message sends nothing.
        notification_jobs.sweep_outboxes.send()
        from bippop.tenants.context import tenant_scope

        with tenant_scope(tenant):
            notification_jobs.deliver_message.send(str(row.id))
        worker.join("notifications", timeout=30_000)
        time.sleep(0.5)
        assert len(inbox.to(email)) == 1
    finally:
        controller.stop()


def test_a_delivery_job_in_one_tenants_scope_cannot_send_anothers_message(
    mail_settings: Settings,
    worker: dramatiq.Broker,
    inbox: Inbox,
    smtp_port: int,
    tenant: TenantRef,
    other_tenant: TenantRef,
) -> None:
    from bippop.outbox.writing import queue_email
    from bippop.tenants.context import tenant_scope

    resources = platform_resources()
    secret_address = f"beta-only-{uuid.uuid4().hex[:6]}@example.org"
    with resources.sessions()(info={"tenant": other_tenant}) as session, session.begin():
        message = queue_email(
            session, purpose="test", recipient=secret_address, subject="Bêta", body="Pour Bétaville"
        )
    controller = start_smtp(inbox, smtp_port)
    try:
        with tenant_scope(tenant):  # alpha's scope, naming beta's message
            notification_jobs.deliver_message.send(str(message.id))
        worker.join("notifications", timeout=30_000)
        time.sleep(0.5)
        assert inbox.to(secret_address) == []
        assert outbox_row(resources, other_tenant, secret_address).status == "pending"
        # In its own tenant's scope the same job sends it.
        with tenant_scope(other_tenant):
            notification_jobs.deliver_message.send(str(message.id))
        wait_for(lambda: inbox.to(secret_address))
    finally:
        controller.stop()
