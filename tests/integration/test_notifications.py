"""Notifications on every channel: the choice of channel, text messages and voice calls through real HTTP
adapters against a local provider (down first, then up: delivered exactly once), coordinator tasks for
people without internet, the volunteers' daily digest, 24-hour reminders (time travel), the iCalendar
feed, and a real worker delivering a text message end to end."""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dramatiq
import icalendar
import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bippop import config
from bippop.accounts.models import Person, Setting
from bippop.aid import reminders
from bippop.aid.calendar import new_calendar_token, token_hash
from bippop.aid.models import Appointment, CoordinatorTask, HelpRequest, RequestOffer
from bippop.aid.notices import notify, notify_sync
from bippop.aid.reminders import plan_digests, plan_reminders
from bippop.cli import main
from bippop.config import Settings
from bippop.notifications import jobs as notification_jobs
from bippop.notifications import providers
from bippop.notifications.dispatch import fit_sms
from bippop.notifications.providers import DeliveryError, septets
from bippop.notifications.services import deliver
from bippop.outbox.models import OutboxMessage
from bippop.runtime.resources import PlatformResources, platform_resources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, host, running_worker

NOW = datetime.datetime(2031, 5, 6, 8, 0, tzinfo=datetime.UTC)
# Links go to the tenant's registered address: its first custom domain (conftest.py).
PORTAL = "http://aide.alphaville.fr"
TENANT_HOST = f"alpha.{BASE_DOMAIN}"


# A provider on loopback ------------------------------------------------------------------------


class FakeProvider:
    """An HTTP server in a thread that records every request and answers from a script of statuses
    (then ``ok`` for ever): 503 first, 201 after, by default."""

    def __init__(self, script: tuple[int, ...] = (503,), ok: int = 201) -> None:
        self.script = list(script)
        self.ok = ok
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if 200 <= r["status"] < 300]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                with provider.lock:
                    status = provider.script.pop(0) if provider.script else provider.ok
                    provider.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "json": payload,
                            "status": status,
                        }
                    )
                    number = len(provider.requests)
                body = json.dumps({"messageId": 1000 + number, "id": f"msg-{number}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def start(self) -> FakeProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


@pytest.fixture
def clean_providers(resources: PlatformResources, tenant: TenantRef) -> Iterator[None]:
    """Alpha's SMS and voice providers are removed afterwards (other tests use the development one)."""
    yield
    with resources.tenant_session(tenant) as session, session.begin():
        session.execute(delete(Setting).where(Setting.key.like("notifications.%")))


def configure(
    resources: PlatformResources,
    settings: Settings,
    tenant: TenantRef,
    *,
    channel: str,
    provider: str,
    endpoint: str,
    api_key: str = "key-123",
) -> None:
    with resources.tenant_session(tenant) as session, session.begin():
        providers.write_config(
            session,
            channel=channel,
            provider=provider,
            api_key=api_key,
            secret_key=settings.effective_secret_key(),
            sender="MAIRIE",
            endpoint=endpoint,
            account="bippop-test",
        )


# Data ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def rolled_back(resources: PlatformResources, tenant: TenantRef) -> Iterator[Session]:
    """A tenant session whose writes are all undone at the end; it carries the settings, as a page's does."""
    with resources.tenant_session(tenant) as session:
        session.info["settings"] = resources.settings
        try:
            yield session
        finally:
            session.rollback()


def add_person(session: Session, roles: list[str], **values: Any) -> Person:
    defaults: dict[str, Any] = {
        "display_name": "Jeanne Martin",
        "email": f"{uuid.uuid4().hex[:8]}@example.org",
        "locale": "en",
    }
    defaults.update(values)
    person = Person(id=uuid.uuid4(), roles=roles, **defaults)
    session.add(person)
    session.flush()
    return person


def add_request(
    session: Session, beneficiary: Person, volunteer: Person | None = None, *, status: str = "scheduled"
) -> HelpRequest:
    request = HelpRequest(
        id=uuid.uuid4(),
        module="visits",
        beneficiary_id=beneficiary.id,
        created_as="beneficiary",
        status=status,
        details={"frequency": "once"},
        volunteer_id=volunteer.id if volunteer else None,
        latitude=49.41,
        longitude=2.82,
    )
    session.add(request)
    session.flush()
    return request


def add_appointment(
    session: Session, request: HelpRequest, starts_at: datetime.datetime, *, status: str = "scheduled"
) -> Appointment:
    assert request.volunteer_id is not None
    appointment = Appointment(
        id=uuid.uuid4(),
        request_id=request.id,
        volunteer_id=request.volunteer_id,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(hours=1),
        status=status,
    )
    session.add(appointment)
    session.flush()
    return appointment


def rows_for(session: Session, person: Person) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.person_id == person.id)
            .order_by(OutboxMessage.created_at)
        )
    )


def tasks_for(session: Session, person: Person) -> list[CoordinatorTask]:
    return list(session.scalars(select(CoordinatorTask).where(CoordinatorTask.person_id == person.id)))


# Channel choice -----------------------------------------------------------------------------------


def test_each_preference_gets_its_channel(resources: PlatformResources, tenant: TenantRef) -> None:
    with rolled_back(resources, tenant) as session:
        volunteer = add_person(session, ["volunteer"], display_name="Paul Durand")
        by_mail = add_person(session, ["beneficiary"], channels=["email", "sms"], phone="06 12 34 56 78")
        by_text = add_person(
            session,
            ["beneficiary"],
            channels=["sms", "email"],
            phone="06 12 34 56 78",
            address="12 rue des Lilas",
        )
        landline = add_person(
            session, ["beneficiary"], channels=["sms", "voice"], phone="03 44 00 00 00", email=None
        )
        by_call = add_person(
            session, ["beneficiary"], channels=["voice"], phone="+33 3 44 00 00 01", email=None
        )
        offline = add_person(session, ["beneficiary"], channels=["coordinator"], phone="03 44 00 00 02")
        unreachable = add_person(session, ["beneficiary"], channels=["email"], email=None)
        sent: dict[str, list[uuid.UUID]] = {}
        for label, person in (
            ("mail", by_mail),
            ("text", by_text),
            ("landline", landline),
            ("call", by_call),
            ("offline", offline),
            ("unreachable", unreachable),
        ):
            request = add_request(session, person, volunteer)
            sent[label] = notify_sync(
                session, person_id=person.id, purpose="request_matched", request_id=request.id, now=NOW
            )

        (mail,) = rows_for(session, by_mail)
        assert [mail.id] == sent["mail"]
        assert mail.channel == "email" and mail.recipient == by_mail.email
        assert mail.subject == "A volunteer will help you — Alphaville"
        assert "Hello Jeanne," in mail.body and "With: Paul" in mail.body and "Durand" not in mail.body
        assert f"{PORTAL}/mes-demandes/" in mail.body and "Friendly visits" in mail.body

        (text,) = rows_for(session, by_text)
        assert text.channel == "sms" and text.recipient == "+33612345678"
        assert septets(text.body) <= 160 and providers.is_gsm7(text.body)
        assert text.body.startswith("Hello Jeanne.") and text.body.endswith(f" {PORTAL}/mes-demandes")
        assert "Martin" not in text.body and "Lilas" not in text.body and "06" not in text.body

        (spoken,) = rows_for(session, landline)  # no mobile: no text message, the next choice (a call)
        assert spoken.channel == "voice" and spoken.recipient == "+33344000000"
        (call,) = rows_for(session, by_call)
        assert call.channel == "voice" and call.recipient == "+33344000001"
        assert (
            "Bip Pop service of Alphaville" in call.body and "03 00 00 00 01" in call.body
        )  # tenant's phone

        for label, person in (("offline", offline), ("unreachable", unreachable)):
            assert sent[label] == [] and rows_for(session, person) == []
            (task,) = tasks_for(session, person)
            assert (
                task.kind == "call_person" and task.note == "request_matched" and task.request_id is not None
            )


def test_a_dedupe_key_writes_once_whatever_the_channel(
    resources: PlatformResources, tenant: TenantRef
) -> None:
    with rolled_back(resources, tenant) as session:
        person = add_person(session, ["beneficiary"], channels=["sms"], phone="0612345678")
        key = f"test:{uuid.uuid4()}"
        first = notify_sync(session, person_id=person.id, purpose="feedback_wanted", dedupe_key=key)
        assert len(first) == 1
        assert notify_sync(session, person_id=person.id, purpose="feedback_wanted", dedupe_key=key) == []
        person.channels = ["coordinator"]  # changed their mind in between: still nothing more
        assert notify_sync(session, person_id=person.id, purpose="feedback_wanted", dedupe_key=key) == []
        assert len(rows_for(session, person)) == 1 and tasks_for(session, person) == []


def test_event_news_link_to_the_events_page(resources: PlatformResources, tenant: TenantRef) -> None:
    with rolled_back(resources, tenant) as session:
        person = add_person(session, ["beneficiary"])
        notify_sync(session, person_id=person.id, purpose="event_place_freed")
        (mail,) = rows_for(session, person)
        assert mail.subject.startswith("A place is free for you at an event")
        assert f"See the events: {PORTAL}/evenements" in mail.body


def test_one_open_call_per_person_gathers_the_news(resources: PlatformResources, tenant: TenantRef) -> None:
    """Someone only a coordinator can reach gets one call for all the news while it is open (the fallback
    aid registers with notifications); once made, the next news opens a new one."""
    with rolled_back(resources, tenant) as session:
        volunteer = add_person(session, ["volunteer"], display_name="Paul Durand")
        offline = add_person(session, ["beneficiary"], channels=["coordinator"], phone="03 44 00 00 09")
        request = add_request(session, offline, volunteer)
        for purpose in ("request_created_for_you", "request_matched", "appointment_scheduled"):
            assert notify_sync(session, person_id=offline.id, purpose=purpose, request_id=request.id) == []
        (task,) = tasks_for(session, offline)
        assert (
            task.status == "open" and task.note == "request_created_for_you" and task.request_id == request.id
        )
        task.status = "done"
        session.flush()
        notify_sync(session, person_id=offline.id, purpose="series_paused", request_id=request.id)
        assert sorted(t.status for t in tasks_for(session, offline)) == ["done", "open"]


def test_production_without_a_provider_falls_back(
    resources: PlatformResources, tenant: TenantRef, settings: Settings
) -> None:
    production = settings.replace(env="production")
    with rolled_back(resources, tenant) as session:
        texter = add_person(session, ["beneficiary"], channels=["sms", "email"], phone="0612345678")
        caller = add_person(session, ["beneficiary"], channels=["voice"], phone="0344000000", email=None)
        notify_sync(session, person_id=texter.id, purpose="feedback_wanted", settings=production)
        notify_sync(session, person_id=caller.id, purpose="feedback_wanted", settings=production)
        assert [m.channel for m in rows_for(session, texter)] == ["email"]
        assert rows_for(session, caller) == [] and len(tasks_for(session, caller)) == 1


async def test_notify_all_from_an_async_session(settings: Settings, tenant: TenantRef) -> None:
    from bippop.aid.notices import notify_all
    from bippop.db.engine import async_session_factory, make_async_engine

    engine = make_async_engine(settings)
    try:
        async with async_session_factory(engine)(info={"tenant": tenant, "settings": settings}) as session:
            person = Person(
                id=uuid.uuid4(),
                display_name="Anne",
                email="anne@example.org",
                roles=["beneficiary"],
                locale="fr",
            )
            session.add(person)
            await session.flush()
            ids = await notify_all(session, [("request_cancelled", person.id)], tenant_name="Alphaville")
            one = await notify(
                session, person_id=person.id, purpose="series_paused", dedupe_key="x:" + str(person.id)
            )
            again = await notify(
                session, person_id=person.id, purpose="series_paused", dedupe_key="x:" + str(person.id)
            )
            assert len(ids) == 1 and len(one) == 1 and again == []
            row = await session.get(OutboxMessage, ids[0])
            assert row is not None and row.channel == "email" and row.recipient == "anne@example.org"
            await session.rollback()
    finally:
        await engine.dispose()


def test_fit_sms_keeps_the_link_and_one_message() -> None:
    link = f"{PORTAL}/mes-demandes"
    text = fit_sms("Bonjour Jérôme. « Une très longue nouvelle » " + "blabla " * 40, link)
    assert septets(text) <= 160 and text.endswith(" " + link) and "..." in text
    assert "Jérome" in text and "«" not in text  # é is in the GSM alphabet, ô is not


# Providers over HTTP ----------------------------------------------------------------------------------


def test_sms_through_brevo_down_then_up_is_delivered_exactly_once(
    resources: PlatformResources,
    settings: Settings,
    tenant: TenantRef,
    provider: FakeProvider,
    clean_providers: None,
) -> None:
    configure(
        resources,
        settings,
        tenant,
        channel="sms",
        provider="brevo",
        endpoint=f"{provider.url}/v3/transactionalSMS/send",
    )
    with resources.tenant_session(tenant) as session:
        stored = session.scalar(select(Setting.value).where(Setting.key == "notifications.sms"))
    assert stored["provider"] == "brevo" and "key-123" not in json.dumps(stored)  # the key is sealed

    with resources.tenant_session(tenant) as session, session.begin():
        person = add_person(session, ["beneficiary"], channels=["sms"], phone="06 98 76 54 32")
        (message_id,) = notify_sync(
            session, person_id=person.id, purpose="feedback_wanted", settings=resources.settings
        )

    with resources.tenant_session(tenant) as session:
        with pytest.raises(DeliveryError):
            deliver(session, settings, message_id, tenant_host=TENANT_HOST)  # provider answers 503
        session.commit()
    with resources.tenant_session(tenant) as session:
        row = session.get(OutboxMessage, message_id)
        assert (
            row is not None
            and row.status == "pending"
            and row.attempts == 1
            and "503" in (row.last_error or "")
        )

    for _attempt in range(2):  # the retry sends; a stray second delivery of the same message does not
        with resources.tenant_session(tenant) as session:
            assert deliver(session, settings, message_id, tenant_host=TENANT_HOST) == "sent"
            session.commit()

    assert len(provider.requests) == 2
    (accepted,) = provider.accepted
    assert accepted["path"] == "/v3/transactionalSMS/send"
    assert accepted["headers"]["api-key"] == "key-123"
    with resources.tenant_session(tenant) as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None and row.status == "sent" and row.attempts == 2 and row.sent_at is not None
        body = row.body
    assert accepted["json"] == {
        "type": "transactional",
        "sender": "MAIRIE",
        "recipient": "33698765432",
        "content": body,
        "tag": f"bippop-{message_id}",
        "unicodeEnabled": False,
    }


def test_voice_through_the_webhook_carries_an_idempotency_key(
    resources: PlatformResources,
    settings: Settings,
    tenant: TenantRef,
    provider: FakeProvider,
    clean_providers: None,
) -> None:
    configure(
        resources, settings, tenant, channel="voice", provider="webhook", endpoint=f"{provider.url}/calls"
    )
    with resources.tenant_session(tenant) as session, session.begin():
        person = add_person(session, ["beneficiary"], channels=["voice"], phone="03 44 12 34 56", email=None)
        (message_id,) = notify_sync(
            session, person_id=person.id, purpose="series_resumed", settings=resources.settings
        )
    with resources.tenant_session(tenant) as session:
        with pytest.raises(DeliveryError):
            deliver(session, settings, message_id, tenant_host=TENANT_HOST)
        session.commit()
    for _attempt in range(2):
        with resources.tenant_session(tenant) as session:
            assert deliver(session, settings, message_id, tenant_host=TENANT_HOST) == "sent"
            session.commit()
    assert len(provider.requests) == 2 and len(provider.accepted) == 1
    keys = {r["headers"]["idempotency-key"] for r in provider.requests}
    assert keys == {str(message_id)}  # the same key on the failed try and the retry
    (accepted,) = provider.accepted
    assert accepted["path"] == "/calls" and accepted["headers"]["authorization"] == "Bearer key-123"
    sent = accepted["json"]
    assert sent["channel"] == "voice" and sent["to"] == "+33344123456" and sent["language"] == "en"
    assert sent["sender"] == "MAIRIE" and sent["account"] == "bippop-test"
    assert "Regular visits resumed" in sent["text"] and sent["text"].endswith("Goodbye.")


def test_a_refused_number_becomes_a_call_for_the_coordinator(
    resources: PlatformResources,
    settings: Settings,
    tenant: TenantRef,
    clean_providers: None,
) -> None:
    refusing = FakeProvider(script=(), ok=400).start()
    try:
        configure(
            resources, settings, tenant, channel="sms", provider="webhook", endpoint=f"{refusing.url}/sms"
        )
        with resources.tenant_session(tenant) as session, session.begin():
            person = add_person(session, ["beneficiary"], channels=["sms"], phone="0600000000")
            (message_id,) = notify_sync(
                session, person_id=person.id, purpose="request_reopened", settings=resources.settings
            )
        with resources.tenant_session(tenant) as session:
            assert deliver(session, settings, message_id, tenant_host=TENANT_HOST) == "failed"  # no retry
            session.commit()
        with resources.tenant_session(tenant) as session:
            row = session.get(OutboxMessage, message_id)
            assert row is not None and row.status == "failed"
            (task,) = tasks_for(session, person)
            assert task.kind == "call_person" and task.dedupe_key == f"undelivered:{message_id}"
        assert len(refusing.requests) == 1
    finally:
        refusing.stop()


def test_without_a_provider_the_development_one_keeps_texts_in_the_outbox(
    resources: PlatformResources, settings: Settings, tenant: TenantRef
) -> None:
    with resources.tenant_session(tenant) as session, session.begin():
        person = add_person(session, ["beneficiary"], channels=["sms"], phone="0611111111")
        (message_id,) = notify_sync(
            session, person_id=person.id, purpose="request_cancelled", settings=resources.settings
        )
    with resources.tenant_session(tenant) as session:
        assert deliver(session, settings, message_id, tenant_host=TENANT_HOST) == "sent"
        session.commit()
    with resources.tenant_session(tenant) as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None and row.status == "sent" and row.body.startswith("Hello Jeanne.")


def test_the_development_outbox_page_shows_the_channel(
    resources: PlatformResources, settings: Settings, tenant: TenantRef
) -> None:
    from litestar.testing import TestClient

    from bippop.app import create_app

    phone = f"06{uuid.uuid4().int % 10**8:08d}"
    with resources.tenant_session(tenant) as session, session.begin():
        person = add_person(session, ["beneficiary"], channels=["sms"], phone=phone)
        notify_sync(session, person_id=person.id, purpose="series_paused", settings=resources.settings)
    app = create_app(settings.replace(env="development"))
    try:
        with TestClient(app, base_url=f"http://{BASE_DOMAIN}") as web:
            page = web.get("/dev/courriels?canal=sms", headers=host("alpha"))
            assert page.status_code == 200
            assert f"SMS · {providers.to_e164(phone)}" in page.text and "Hello Jeanne." in page.text
            mails = web.get("/dev/courriels?canal=email", headers=host("alpha"))
            assert providers.to_e164(phone) not in mails.text
    finally:  # left pending otherwise, for some later sweep to find
        with resources.tenant_session(tenant) as session, session.begin():
            session.execute(delete(OutboxMessage).where(OutboxMessage.person_id == person.id))
            session.execute(delete(Person).where(Person.id == person.id))


def test_the_cli_configures_a_provider(
    resources: PlatformResources, settings: Settings, tenant: TenantRef, clean_providers: None
) -> None:
    env = {
        "BIPPOP_ENV": settings.env,
        "BIPPOP_DATABASE_URL": settings.database_url or "",
        "BIPPOP_DATABASE_ADMIN_URL": settings.database_admin_url or "",
        "BIPPOP_REDIS_URL": settings.redis_url or "",
        "BIPPOP_BROKER_URL": settings.broker_url or "",
        "BIPPOP_STORAGE_URL": settings.storage_url or "",
        "BIPPOP_BASE_DOMAIN": settings.base_domain,
        "BIPPOP_SECRET_KEY": settings.secret_key or "",
        "BIPPOP_VAR_DIR": str(settings.var_dir),
        "BIPPOP_SEED_DEMO": "false",
        "BIPPOP_HOST_CACHE_SECONDS": str(settings.host_cache_seconds),
        "SMS_KEY": "brevo-secret",
    }
    runner = CliRunner()
    config.get_settings.cache_clear()
    try:
        base = ["tenants", "sms", "alpha", "--provider", "brevo", "--sender", "MAIRIE"]
        missing = runner.invoke(main, [*base, "--api-key-env", "NOT_SET_ANYWHERE"], env=env)
        assert missing.exit_code == 2 and "NOT_SET_ANYWHERE" in missing.output
        bad = runner.invoke(
            main, [*base, "--api-key-env", "SMS_KEY", "--endpoint", "http://sms.example"], env=env
        )
        assert bad.exit_code == 2 and "https" in bad.output
        done = runner.invoke(main, [*base, "--api-key-env", "SMS_KEY"], env=env)
        assert done.exit_code == 0, done.output
        with resources.tenant_session(tenant) as session:
            config_row = providers.load_config(session, "sms")
        assert config_row is not None and config_row.endpoint == providers.BREVO_SMS_URL
        assert config_row.api_key(settings.effective_secret_key()) == "brevo-secret"
        off = runner.invoke(main, ["tenants", "sms", "alpha", "--disable"], env=env)
        assert off.exit_code == 0, off.output
        with resources.tenant_session(tenant) as session:
            assert providers.load_config(session, "sms") is None
        assert platform_resources().settings == settings  # the command used this run's own settings
    finally:
        config.get_settings.cache_clear()


# Digest ----------------------------------------------------------------------------------------------


def test_the_digest_groups_offers_into_one_mail_per_volunteer_once(
    resources: PlatformResources, tenant: TenantRef
) -> None:
    with rolled_back(resources, tenant) as session:
        one = add_person(session, ["volunteer"], display_name="Paul Durand", latitude=49.42, longitude=2.83)
        two = add_person(session, ["volunteer"], display_name="Lina Haddad", email=None, phone="0677777777")
        asking = [
            add_person(
                session,
                ["beneficiary"],
                display_name=f"Jeanne Martin{n}",
                address=f"{n} rue des Lilas",
                phone="0344556677",
                postcode="60200",
            )
            for n in range(3)
        ]
        waiting = [add_request(session, person, status="offered") for person in asking[:2]]
        taken = add_request(session, asking[2], one, status="matched")
        for request in (*waiting, taken):
            session.add(RequestOffer(id=uuid.uuid4(), request_id=request.id, volunteer_id=one.id))
        session.add(RequestOffer(id=uuid.uuid4(), request_id=waiting[0].id, volunteer_id=two.id))
        session.flush()

        ids = plan_digests(session, now=NOW, settings=resources.settings)
        mine = [m for m in rows_for(session, one) + rows_for(session, two) if m.id in ids]
        assert len(mine) == 2
        (mail,) = rows_for(session, one)
        assert mail.channel == "email" and mail.purpose == "volunteer_digest"
        assert mail.subject == "2 requests for help near you — Alphaville"
        assert mail.body.count("Friendly visits — Alphaville (60200)") == 2
        for request in waiting:
            assert f"{PORTAL}/benevole/demandes/{request.id}" in mail.body
        assert str(taken.id) not in mail.body  # already matched: not offered any more
        assert "Lilas" not in mail.body and "0344556677" not in mail.body and "Martin" not in mail.body
        assert "about 1.3 km away" in mail.body
        (text,) = rows_for(session, two)  # no e-mail address: a text with the count and a link
        assert text.channel == "sms" and text.body.endswith(f"{PORTAL}/benevole") and "1 request" in text.body

        offers = list(session.scalars(select(RequestOffer).where(RequestOffer.volunteer_id == one.id)))
        assert {o.request_id for o in offers if o.digest_sent_at == NOW} == {r.id for r in waiting}

        plan_digests(
            session, now=NOW + datetime.timedelta(days=1), settings=resources.settings
        )  # the next day, nothing new
        assert len(rows_for(session, one)) == 1 and len(rows_for(session, two)) == 1  # not sent twice

        later = add_request(session, asking[0], status="open")
        session.add(RequestOffer(id=uuid.uuid4(), request_id=later.id, volunteer_id=one.id))
        session.flush()
        plan_digests(session, now=NOW + datetime.timedelta(days=1), settings=resources.settings)
        _first, second = rows_for(session, one)
        assert second.subject.startswith("1 request for help near you") and str(later.id) in second.body
        assert str(waiting[0].id) not in second.body


# Reminders -----------------------------------------------------------------------------------------


def test_reminders_24_hours_before_once(resources: PlatformResources, tenant: TenantRef) -> None:
    with rolled_back(resources, tenant) as session:
        volunteer = add_person(session, ["volunteer"], display_name="Paul Durand")
        beneficiary = add_person(session, ["beneficiary"], channels=["sms"], phone="0612121212", email=None)
        request = add_request(session, beneficiary, volunteer)
        soon = add_appointment(session, request, NOW + datetime.timedelta(hours=23))
        later = add_appointment(session, request, NOW + datetime.timedelta(hours=25))
        cancelled = add_appointment(session, request, NOW + datetime.timedelta(hours=2), status="cancelled")
        past = add_appointment(session, request, NOW - datetime.timedelta(hours=1))

        ids = plan_reminders(session, now=NOW, settings=resources.settings)
        texts, mails = rows_for(session, beneficiary), rows_for(session, volunteer)
        assert {m.id for m in texts + mails} <= set(ids) and len(texts) == 1 and len(mails) == 1
        assert texts[0].channel == "sms" and "Reminder of your appointment" in texts[0].body
        assert "Wed 7 May 09:00" in texts[0].body  # Paris time (UTC+2), in the person's language
        assert mails[0].dedupe_key == f"reminder:{soon.id}:{volunteer.id}"
        assert "When: Wednesday 7 May, 09:00" in mails[0].body and "With: Jeanne" in mails[0].body
        assert f"{PORTAL}/benevole/demandes/{request.id}" in mails[0].body
        assert soon.reminded_at == NOW and later.reminded_at is None
        assert cancelled.reminded_at is None and past.reminded_at is None

        plan_reminders(
            session, now=NOW + datetime.timedelta(minutes=10), settings=resources.settings
        )  # the job runs again
        assert len(rows_for(session, beneficiary)) == 1 and len(rows_for(session, volunteer)) == 1

        soon.reminded_at = None  # even if the mark were lost, the dedupe keys hold
        session.flush()
        plan_reminders(session, now=NOW + datetime.timedelta(minutes=20), settings=resources.settings)
        assert len(rows_for(session, volunteer)) == 1

        plan_reminders(
            session, now=NOW + datetime.timedelta(hours=2), settings=resources.settings
        )  # now the second one is due
        assert len(rows_for(session, volunteer)) == 2 and later.reminded_at is not None


# Calendar feed --------------------------------------------------------------------------------------


@pytest.fixture
def calendar_people(resources: PlatformResources, tenant: TenantRef) -> Iterator[dict[str, Any]]:
    now = datetime.datetime.now(datetime.UTC)
    with resources.tenant_session(tenant) as session, session.begin():
        volunteer = add_person(session, ["volunteer"], display_name="Paul Durand", locale="fr")
        beneficiary = add_person(
            session,
            ["beneficiary"],
            display_name="Jeanne Martin",
            phone="06 11 22 33 44",
            address="12 rue des Lilas",
            postcode="60200",
        )
        request = add_request(session, beneficiary, volunteer)
        shown = add_appointment(session, request, now + datetime.timedelta(days=10))
        add_appointment(session, request, now + datetime.timedelta(days=100))
        add_appointment(session, request, now + datetime.timedelta(days=3), status="cancelled")
        add_appointment(session, request, now - datetime.timedelta(days=3))
        token = "t" * 10 + uuid.uuid4().hex
        volunteer.calendar_token_hash = token_hash(token)
        data = {"volunteer": volunteer.id, "request": request.id, "shown": shown.id, "token": token}
    yield data
    with resources.tenant_session(tenant) as session, session.begin():
        session.execute(delete(Person).where(Person.id.in_([volunteer.id, beneficiary.id])))


async def test_calendar_feed(
    client: AsyncTestClient,  # type: ignore[type-arg]
    calendar_people: dict[str, Any],
    resources: PlatformResources,
    tenant: TenantRef,
    other_tenant: TenantRef,
) -> None:
    url = f"/agenda/{calendar_people['token']}.ics"
    response = await client.get(url, headers=host("alpha"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    text = response.text
    for private in ("Martin", "Lilas", "06 11 22 33 44", "0611223344", "+33611223344"):
        assert private not in text
    calendar = icalendar.Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    (event,) = events
    assert str(event["uid"]) == f"{calendar_people['shown']}@bippop"
    summary = str(event["summary"])  # in the volunteer's language (French), with a first name only
    assert summary.startswith("Visites de convivialité") and summary.endswith("Jeanne")
    assert str(event["location"]) == "Alphaville (60200)"
    assert str(event["url"]) == f"{PORTAL}/benevole/demandes/{calendar_people['request']}"
    assert event.decoded("dtend") - event.decoded("dtstart") == datetime.timedelta(hours=1)

    assert (await client.get(url, headers=host("beta"))).status_code == 404  # alpha's token on beta's host
    assert (await client.get(f"/agenda/{calendar_people['token']}", headers=host("alpha"))).status_code == 404
    assert (await client.get(f"/agenda/{'x' * 43}.ics", headers=host("alpha"))).status_code == 404


async def test_a_new_calendar_token_retires_the_old_one(
    client: AsyncTestClient,  # type: ignore[type-arg]
    calendar_people: dict[str, Any],
    settings: Settings,
    tenant: TenantRef,
) -> None:
    from bippop.db.engine import async_session_factory, make_async_engine

    engine = make_async_engine(settings)
    try:
        async with async_session_factory(engine)(info={"tenant": tenant}) as session:
            volunteer = await session.get(Person, calendar_people["volunteer"])
            assert volunteer is not None
            token = await new_calendar_token(session, volunteer)
            stored = volunteer.calendar_token_hash
            await session.commit()
    finally:
        await engine.dispose()
    assert len(token) >= 43 and stored == token_hash(token)
    assert (await client.get(f"/agenda/{token}.ics", headers=host("alpha"))).status_code == 200
    old = f"/agenda/{calendar_people['token']}.ics"
    assert (await client.get(old, headers=host("alpha"))).status_code == 404


# A real worker -------------------------------------------------------------------------------------


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_real_worker_sends_a_reminder_by_sms_exactly_once(
    resources: PlatformResources,
    settings: Settings,
    tenant: TenantRef,
    provider: FakeProvider,
    clean_providers: None,
) -> None:
    configure(
        resources,
        settings,
        tenant,
        channel="sms",
        provider="brevo",
        endpoint=f"{provider.url}/v3/transactionalSMS/send",
    )
    with resources.tenant_session(tenant) as session, session.begin():
        volunteer = add_person(session, ["volunteer"], display_name="Paul Durand")
        beneficiary = add_person(session, ["beneficiary"], channels=["sms"], phone="0655443322", email=None)
        request = add_request(session, beneficiary, volunteer)
        appointment = add_appointment(
            session, request, datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=3)
        )
    try:
        with running_worker(settings) as broker:
            assert isinstance(broker, dramatiq.Broker)
            reminders.send_reminders.send()  # what the scheduler does every 10 minutes
            wait_for(lambda: [r for r in provider.accepted if r["json"]["recipient"] == "33655443322"])
            key = f"reminder:{appointment.id}:{beneficiary.id}"

            def row() -> OutboxMessage | None:
                with resources.tenant_session(tenant) as session:
                    return session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))

            wait_for(lambda: (found := row()) is not None and found.status == "sent")
            found = row()
            assert found is not None and found.attempts == 2  # 503 first, then the retry
            reminders.send_reminders.send()  # again: already reminded, nothing more
            notification_jobs.sweep_outboxes.send()
            broker.join("notifications", timeout=60_000)
            time.sleep(0.5)
        mine = [r for r in provider.requests if r["json"]["recipient"] == "33655443322"]
        assert [r["status"] for r in mine] == [503, 201]
        assert mine[1]["json"]["content"].startswith("Hello Jeanne. Reminder of your appointment.")
        with resources.tenant_session(tenant) as session:
            count = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.person_id == beneficiary.id)
            )
            assert count == 1
            reminded = session.get(Appointment, appointment.id)
            assert reminded is not None and reminded.reminded_at is not None
    finally:
        with resources.tenant_session(tenant) as session, session.begin():
            session.execute(delete(Person).where(Person.id.in_([volunteer.id, beneficiary.id])))
