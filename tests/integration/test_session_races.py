"""Ending a session is final (issue #9, item 2): sign-out, sign-out everywhere and role removal land
while requests are using the session, against the real Redis, 50 trials each, and no session survives.

The requests in flight are many concurrent asyncio tasks on their own Redis connections, each reading
and touching the session as every page does, so the revocation falls between a request's read and
its write as often as it can.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import random
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from litestar.testing import TestClient
from redis.asyncio import Redis

from bippop.accounts.auth import FLAG_MFA_ENROLLMENT, session_timeouts
from bippop.accounts.models import AccountToken
from bippop.accounts.sessions import Session, SessionStore, SignedOutMeanwhile
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN, csrf_token, host, log_in, make_person

TRIALS = 50
REQUESTS = 6  # the probe's six requests using the session
PAGE_TRIALS = 10  # through the whole app, each trial costs an administrator's form: fewer, same race


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "", max_connections=64)
    yield client
    await client.aclose()


async def _requests_using(
    store: SessionStore, tenant_id: uuid.UUID, session_id: str, ended: asyncio.Event, *, enrolling: bool
) -> None:
    """One request after another with this session (each reads and touches it), until two after the end;
    ``enrolling``: each also finishes setting up the second factor, as its page does (``clear_flag``)."""
    after = 2
    while after:
        session = await store.get(tenant_id, session_id)
        if enrolling and session is not None:
            await store.clear_flag(session, FLAG_MFA_ENROLLMENT)
        if ended.is_set():
            after -= 1
        await asyncio.sleep(0)


async def _race(
    store: SessionStore,
    tenant_id: uuid.UUID,
    sessions: list[Session],
    revoke: Callable[[], Awaitable[object]],
) -> int:
    """Revoke while ``REQUESTS`` requests use the sessions (one of them setting up the second factor);
    how many sessions are still usable after."""
    ended = asyncio.Event()
    tasks = [
        asyncio.create_task(
            _requests_using(store, tenant_id, sessions[i % len(sessions)].id, ended, enrolling=i == 0)
        )
        for i in range(REQUESTS)
    ]
    await asyncio.sleep(random.uniform(0, 0.003))  # let them get going, land anywhere in their loop
    await revoke()
    ended.set()
    await asyncio.gather(*tasks)
    return sum([await store.get(tenant_id, s.id, touch=False) is not None for s in sessions])


async def test_sign_out_is_final_while_requests_use_the_session(redis: Redis) -> None:
    store = SessionStore(redis)
    tenant, person = uuid.uuid4(), uuid.uuid4()
    survivors = 0
    for _ in range(TRIALS):
        session = await store.start(tenant, person, ["volunteer"], flags=[FLAG_MFA_ENROLLMENT])
        survivors += await _race(store, tenant, [session], lambda s=session: store.end(tenant, s.id))
    assert survivors == 0
    assert [k async for k in redis.scan_iter(match=f"bippop:t:{tenant}:session:*")] == []


async def test_sign_out_everywhere_is_final_while_requests_use_every_session(redis: Redis) -> None:
    store = SessionStore(redis)
    tenant, person = uuid.uuid4(), uuid.uuid4()
    bystander = await store.start(tenant, uuid.uuid4(), ["volunteer"])
    survivors = 0
    for _ in range(TRIALS):
        devices = [await store.start(tenant, person, ["volunteer"]) for _ in range(3)]
        survivors += await _race(store, tenant, devices, lambda: store.end_all_for(tenant, person))
    assert survivors == 0
    # Nothing of the person's was left behind for a later "sign out everywhere" to miss.
    left = [k async for k in redis.scan_iter(match=f"bippop:t:{tenant}:session:*")]
    assert [k.decode().rsplit(":", 1)[1] for k in left] == [bystander.digest]
    assert await store.get(tenant, bystander.id) is not None  # someone else's session is untouched
    # And after it all, signing in again works.
    assert await store.get(tenant, (await store.start(tenant, person, ["volunteer"])).id) is not None


async def test_role_removal_ends_the_session_while_requests_use_it(redis: Redis) -> None:
    """At the store: the administrator's change ends the person's sessions (``end_all_for``) while
    the person's requests are touching them; the same race through the pages is the next test."""
    store = SessionStore(redis)
    tenant, person = uuid.uuid4(), uuid.uuid4()
    survivors = 0
    for trial in range(TRIALS):
        session = await store.start(tenant, person, ["volunteer", "beneficiary"][trial % 2 :])
        survivors += await _race(store, tenant, [session], lambda: store.end_all_for(tenant, person))
    assert survivors == 0


async def test_a_sign_in_under_way_when_the_person_is_signed_out_everywhere_starts_nothing(
    redis: Redis,
) -> None:
    """A sign-in reads the person's generation, then their roles and password; a role removal or a password
    reset lands (``end_all_for``) before the sign-in starts its session, or while it does: in no trial may
    a session live on with what the sign-in read, whether the person had a generation or none yet."""
    store = SessionStore(redis)
    tenant = uuid.uuid4()
    survivors = refused = 0
    for trial in range(TRIALS):
        person = uuid.uuid4()
        if trial % 2:  # signed in somewhere already: the person has a generation
            await store.start(tenant, person, ["volunteer"])
        seen = await store.generation(tenant, person)

        async def sign_in(person: uuid.UUID = person, seen: str | None = seen) -> Session | None:
            await asyncio.sleep(random.uniform(0, 0.002))
            try:
                return await store.start(tenant, person, ["volunteer"], seen_generation=seen)
            except SignedOutMeanwhile:
                return None

        async def revoke(person: uuid.UUID = person) -> None:
            await asyncio.sleep(random.uniform(0, 0.002))
            await store.end_all_for(tenant, person)

        started, _ = await asyncio.gather(sign_in(), revoke())
        refused += started is None
        survivors += started is not None and await store.get(tenant, started.id) is not None
    assert survivors == 0
    assert refused > 0  # the sign-in really landed after the revocation in some trials
    # A sign-in that read the person after the revocation works.
    person = uuid.uuid4()
    await store.end_all_for(tenant, person)
    seen = await store.generation(tenant, person)
    fresh = await store.start(tenant, person, ["volunteer"], seen_generation=seen)
    assert await store.get(tenant, fresh.id) is not None


def _page_token(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    found = re.search(r'name="_csrf_token" value="([0-9a-f]+)"', page.text)
    assert found
    return found.group(1)


async def test_role_removal_through_the_pages_while_the_person_browses(
    settings: Settings, resources: PlatformResources, tenant: TenantRef, redis: Redis
) -> None:
    """An administrator changes a person's roles while six of the person's requests ("Stay signed in",
    as the expiry warning sends) use the session: afterwards the session opens nothing."""
    admin_id, _, _ = make_person(resources, tenant, ["tenant_admin"])
    person_id, _, _ = make_person(resources, tenant, ["beneficiary", "volunteer"])
    store = SessionStore(redis, timeouts=session_timeouts(settings))
    admin = await store.start(tenant.id, admin_id, ["tenant_admin"])
    app = create_app(settings)
    # The app served in this event loop, so that requests really run at the same time (Litestar's
    # test client handles one request at a time).
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url=f"http://{BASE_DOMAIN}") as web,
    ):
        as_admin = {**host("alpha"), "Cookie": f"bippop_session={admin.id}"}
        admin_token = _page_token(await web.get(f"/gestion/personnes/{person_id}", headers=as_admin))
        as_admin["Cookie"] += f"; csrftoken={admin_token}"

        async def stay_signed_in(as_person: dict[str, str], ended: asyncio.Event) -> None:
            after = 2
            while after:
                await web.post("/session/prolonger", headers=as_person)
                if ended.is_set():
                    after -= 1
                await asyncio.sleep(random.uniform(0, 0.004))  # a browser's pace, not a flood

        roles = ["beneficiary", "volunteer"]
        survivors = 0
        for _ in range(PAGE_TRIALS):
            session = await store.start(tenant.id, person_id, roles)
            as_person = {**host("alpha"), "Cookie": f"bippop_session={session.id}", "Accept": "text/html"}
            token = _page_token(await web.get("/compte", headers=as_person))
            as_person["Cookie"] += f"; csrftoken={token}"
            as_person["x-csrftoken"] = token
            ended = asyncio.Event()
            tasks = [asyncio.create_task(stay_signed_in(as_person, ended)) for _ in range(REQUESTS)]
            await asyncio.sleep(random.uniform(0, 0.005))
            roles = ["beneficiary"] if "volunteer" in roles else ["beneficiary", "volunteer"]
            changed = await web.post(
                f"/gestion/personnes/{person_id}/roles",
                data={"roles": roles, "_csrf_token": admin_token},
                headers=as_admin,
            )
            assert changed.status_code == 303, changed.text
            ended.set()
            await asyncio.gather(*tasks)
            status = (await web.post("/session/prolonger", headers=as_person)).json()
            page = await web.get("/compte", headers=as_person)
            survivors += status["signed_in"] or page.status_code == 200
            assert page.status_code == 200 or page.headers["location"].startswith("/connexion")
    assert survivors == 0


def test_accepting_an_invitation_with_a_new_password_ends_the_older_sessions(
    settings: Settings, resources: PlatformResources, tenant: TenantRef
) -> None:
    """An invitation sent to someone who already has an account sets a new password and adds roles: the
    sessions opened with the old password end, as after a password reset."""
    _, email, _ = make_person(resources, tenant, ["beneficiary"])
    secret = secrets.token_urlsafe(32)
    with resources.tenant_session(tenant) as session, session.begin():
        session.add(
            AccountToken(
                id=uuid.uuid4(),
                purpose="invitation",
                token_hash=hashlib.sha256(secret.encode()).hexdigest(),
                email=email,
                roles=["volunteer"],
                expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1),
            )
        )
    app = f"http://{BASE_DOMAIN}"
    with (
        TestClient(create_app(settings), base_url=app) as laptop,
        TestClient(create_app(settings), base_url=app) as phone,
    ):
        log_in(laptop, "alpha", email)
        assert laptop.get("/compte", headers=host("alpha")).status_code == 200
        accepted = phone.post(
            f"/lien/{secret}",
            data={
                "display_name": "Camille",
                "password": "brouette lanterne violette 58",
                "_csrf_token": csrf_token(phone, "alpha"),
            },
            headers=host("alpha"),
            follow_redirects=False,
        )
        assert accepted.status_code == 303, accepted.text
        assert phone.get("/compte", headers=host("alpha")).status_code == 200  # the new session works
        old = laptop.get("/compte", headers={**host("alpha"), "Accept": "text/html"}, follow_redirects=False)
        assert old.status_code == 303 and old.headers["location"].startswith("/connexion")


@pytest.mark.parametrize("change", ["role_removed", "password_reset"])
def test_a_change_landing_while_the_person_signs_in_leaves_no_session_with_what_was_read(
    settings: Settings,
    resources: PlatformResources,
    tenant: TenantRef,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """The outside probe's window: the sign-in has checked the password and read the roles and is about
    to start the session when an administrator removes a role (or the owner resets the password), which
    ends the person's sessions. No session may start with what the sign-in read before the change."""
    import threading

    from sqlalchemy import select

    import bippop.accounts.controllers.sign_in as sign_in_pages
    from bippop.accounts.models import Person
    from bippop.accounts.passwords import hash_password
    from support import DEFAULT_PASSWORD

    person_id, email, _ = make_person(resources, tenant, ["beneficiary", "volunteer"])
    real_record = sign_in_pages.record_sign_in

    def end_sessions() -> None:
        async def run() -> None:
            redis = Redis.from_url(settings.redis_url or "")
            await SessionStore(redis).end_all_for(tenant.id, person_id)
            await redis.aclose()

        asyncio.run(run())

    def change_lands_now(db_session: object, person: object, details: object) -> None:
        with resources.tenant_session(tenant) as session, session.begin():
            row = session.scalars(select(Person).where(Person.id == person_id)).one()
            if change == "role_removed":
                row.roles = ["beneficiary"]
            else:
                row.password_hash = hash_password("Un tout autre mot de passe 2026 !")
        ending = threading.Thread(target=end_sessions)  # as the change's own request does, after commit
        ending.start()
        ending.join()
        real_record(db_session, person, details)  # type: ignore[arg-type]

    monkeypatch.setattr(sign_in_pages, "record_sign_in", change_lands_now)
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        token = csrf_token(web, "alpha")
        answer = web.post(
            "/connexion",
            data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": token},
            headers=host("alpha"),
            follow_redirects=False,
        )
        assert answer.status_code == 303
        account = web.get("/compte", headers=host("alpha"), follow_redirects=False)
        assert account.status_code in (303, 401), "a session started with what was read before the change"
        # Signing in again afterwards works, with what the person has now.
        monkeypatch.setattr(sign_in_pages, "record_sign_in", real_record)
        if change == "password_reset":
            return
        web.post(
            "/connexion",
            data={"email": email, "password": DEFAULT_PASSWORD, "_csrf_token": csrf_token(web, "alpha")},
            headers=host("alpha"),
            follow_redirects=False,
        )
        assert web.get("/compte", headers=host("alpha"), follow_redirects=False).status_code == 200
