"""The platform's own mail (a council's sign-up, the public contact form): written to
``platform.outbox_messages`` from a sync or an async session, announced after commit in platform scope,
delivered by a real dramatiq worker to a real SMTP server on loopback — with its Reply-To — kept
pending while the server is down and sent exactly once when it is back, and shown on the development
outbox page of the public site."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.header import decode_header, make_header

import dramatiq
import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from test_mail_delivery import Inbox, free_port, start_smtp, wait_for

from bippop.app import create_app
from bippop.config import Settings
from bippop.notifications import jobs as notification_jobs
from bippop.notifications.platform_mail import deliver_platform
from bippop.notifications.providers import DeliveryError
from bippop.notifications.services import MAX_ATTEMPTS
from bippop.outbox.models import PlatformOutboxMessage
from bippop.outbox.platform_mail import (
    announce_platform,
    enqueue_platform_deliveries,
    queue_platform_email,
)
from bippop.runtime.resources import PlatformResources, platform_resources, use_resources
from bippop.tenants.context import TenantRef, tenant_scope
from support import BASE_DOMAIN, running_worker

PUBLIC = {"Host": BASE_DOMAIN}


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def mail_settings(settings: Settings, smtp_port: int) -> Iterator[Settings]:
    previous = platform_resources()
    with_smtp = settings.replace(
        smtp_url=f"smtp://127.0.0.1:{smtp_port}", coop_contact_email="cooperative@bippop.test"
    )
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


def row(resources: PlatformResources, message_id: uuid.UUID) -> PlatformOutboxMessage:
    with resources.sessions()() as session:
        found = session.get(PlatformOutboxMessage, message_id)
    assert found is not None
    return found


def rows_replying_to(resources: PlatformResources, address: str) -> list[PlatformOutboxMessage]:
    with resources.sessions()() as session:
        query = select(PlatformOutboxMessage).where(PlatformOutboxMessage.reply_to == address)
        return list(session.scalars(query))


def send_contact(settings: Settings, visitor: str) -> None:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        web.get("/contact", headers=PUBLIC)
        form = {
            "name": "Claire Martin",
            "email": visitor,
            "collectivity": "Compiègne",
            "message": "Bonjour, pouvez-vous me rappeler ?",
            "_csrf_token": str(web.cookies.get("csrftoken")),
        }
        response = web.post("/contact", data=form, headers=PUBLIC, follow_redirects=False)
        assert response.status_code == 303, response.text


def test_the_contact_form_reaches_the_coop_with_the_visitor_as_reply_to(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int
) -> None:
    controller = start_smtp(inbox, smtp_port)
    try:
        visitor = f"claire-{uuid.uuid4().hex[:6]}@mairie-exemple.fr"
        send_contact(mail_settings, visitor)
        wait_for(lambda: [m for m in inbox.to("cooperative@bippop.test") if m["Reply-To"] == visitor])
        (mail,) = [m for m in inbox.to("cooperative@bippop.test") if m["Reply-To"] == visitor]
        assert "Compiègne" in str(make_header(decode_header(mail["Subject"])))
        body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "Claire Martin" in body and "pouvez-vous me rappeler" in body
        resources = platform_resources()
        (message,) = rows_replying_to(resources, visitor)
        wait_for(lambda: row(resources, message.id).status == "sent")
        sent = row(resources, message.id)
        assert sent.attempts == 1 and sent.sent_at is not None and sent.last_error is None
        assert mail["Message-ID"] == f"<{message.id}@{BASE_DOMAIN}>"
    finally:
        controller.stop()


def test_smtp_down_then_back_sends_platform_mail_exactly_once(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int
) -> None:
    resources = platform_resources()
    address = f"maire-{uuid.uuid4().hex[:6]}@example.org"
    with resources.sessions()() as session, session.begin():  # a synchronous session (a job, the CLI)
        message = queue_platform_email(
            session, purpose="test", recipient=address, subject="Votre portail", body="Bonjour"
        )
    enqueue_platform_deliveries([message.id])  # nobody listens on the SMTP port yet
    wait_for(lambda: row(resources, message.id).attempts >= 1)
    waiting = row(resources, message.id)
    assert waiting.status == "pending" and waiting.last_error
    controller = start_smtp(inbox, smtp_port)
    try:
        wait_for(lambda: inbox.to(address), timeout=60)  # dramatiq's retry, after its back-off
        wait_for(lambda: row(resources, message.id).status == "sent")
        # The sweeper finds nothing left; a stray second delivery of the same message sends nothing.
        notification_jobs.sweep_outboxes.send(full=True)
        notification_jobs.deliver_platform_message.send(str(message.id))
        worker.join("notifications", timeout=30_000)
        assert len(inbox.to(address)) == 1
    finally:
        controller.stop()


def test_the_sweeper_resends_platform_mail_whose_job_was_lost(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int
) -> None:
    import datetime

    from sqlalchemy import update

    resources = platform_resources()
    address = f"perdu-{uuid.uuid4().hex[:6]}@example.org"
    with resources.sessions()() as session, session.begin():
        message = queue_platform_email(session, purpose="test", recipient=address, subject="S", body="B")
    with resources.sessions()() as session, session.begin():  # written two minutes ago, never enqueued
        earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2)
        session.execute(
            update(PlatformOutboxMessage)
            .where(PlatformOutboxMessage.id == message.id)
            .values(created_at=earlier)
        )
    controller = start_smtp(inbox, smtp_port)
    try:
        notification_jobs.sweep_outboxes.send(full=True)
        wait_for(lambda: inbox.to(address))
        wait_for(lambda: row(resources, message.id).status == "sent")
    finally:
        controller.stop()


def test_a_sign_up_code_is_not_kept_once_delivered(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int
) -> None:
    resources = platform_resources()
    address = f"code-{uuid.uuid4().hex[:6]}@example.org"
    with resources.sessions()() as session, session.begin():
        message = queue_platform_email(
            session, purpose="signup_code", recipient=address, subject="Code", body="Votre code : 123456"
        )
    controller = start_smtp(inbox, smtp_port)
    try:
        enqueue_platform_deliveries([message.id])
        wait_for(lambda: inbox.to(address))
        wait_for(lambda: row(resources, message.id).status == "sent")
        assert row(resources, message.id).body == ""  # the secret went out, and is kept nowhere
    finally:
        controller.stop()


def test_a_sign_up_code_that_could_not_be_sent_is_not_kept_either(mail_settings: Settings) -> None:
    """The mail server refuses until the last attempt: the message is ``failed`` and its code gone."""
    resources = platform_resources()
    with resources.sessions()() as session, session.begin():
        message = queue_platform_email(
            session, purpose="signup_code", recipient="x@example.org", subject="Code", body="Code : 123456"
        )
        message.attempts = MAX_ATTEMPTS - 1
    with resources.sessions()() as session:  # nobody listens on the SMTP port
        with pytest.raises(DeliveryError):
            deliver_platform(session, mail_settings, message.id)
        session.commit()  # as the job does before dramatiq retries
    failed = row(resources, message.id)
    assert failed.status == "failed" and failed.body == "" and failed.last_error


def test_a_tenant_cannot_have_the_platforms_mail_sent(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int, tenant: TenantRef
) -> None:
    resources = platform_resources()
    address = f"secret-{uuid.uuid4().hex[:6]}@example.org"
    with resources.sessions()() as session, session.begin():
        message = queue_platform_email(session, purpose="test", recipient=address, subject="S", body="B")
    controller = start_smtp(inbox, smtp_port)
    try:
        with tenant_scope(tenant):  # a job stamped with a tenant: it runs in the tenant's scope
            notification_jobs.deliver_platform_message.send(str(message.id))
        worker.join("notifications", timeout=30_000)
        assert inbox.to(address) == [] and row(resources, message.id).status == "pending"
        # Announced from a tenant's page, the platform's mail still goes out in platform scope.
        with tenant_scope(tenant):
            enqueue_platform_deliveries([message.id])
        wait_for(lambda: inbox.to(address))
    finally:
        controller.stop()


async def test_an_async_session_queues_and_announce_enqueues_after_commit(
    mail_settings: Settings, worker: dramatiq.Broker, inbox: Inbox, smtp_port: int
) -> None:
    import anyio
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from bippop.db.engine import make_async_engine

    address = f"async-{uuid.uuid4().hex[:6]}@example.org"
    engine = make_async_engine(mail_settings)
    redis = Redis.from_url(mail_settings.redis_url or "")
    controller = start_smtp(inbox, smtp_port)
    try:
        async with AsyncSession(engine) as session:
            message = queue_platform_email(
                session, purpose="test", recipient=address, subject="S", body="B", reply_to="r@example.org"
            )
            message_id = message.id  # known before any flush: announced after the commit
            assert message_id is not None
            await session.commit()
        await announce_platform(redis, [message_id])
        await anyio.to_thread.run_sync(lambda: wait_for(lambda: inbox.to(address)))
        assert inbox.to(address)[0]["Reply-To"] == "r@example.org"
    finally:
        controller.stop()
        await redis.aclose()
        await engine.dispose()


def test_the_development_outbox_page_of_the_public_site_shows_platform_mail(settings: Settings) -> None:
    resources = platform_resources()
    address = f"dev-{uuid.uuid4().hex[:6]}@example.org"
    with resources.sessions()() as session, session.begin():
        queue_platform_email(
            session,
            purpose="test",
            recipient=address,
            subject="Sujet visible",
            body="x",
            reply_to="v@example.org",
        )
    development = settings.replace(env="development")
    with TestClient(create_app(development), base_url=f"http://{BASE_DOMAIN}") as web:
        page = web.get("/dev/courriels", headers=PUBLIC)
        assert page.status_code == 200
        assert address in page.text and "Sujet visible" in page.text and "v@example.org" in page.text
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        assert web.get("/dev/courriels", headers=PUBLIC).status_code == 404  # not outside development
