"""What a module's manifest brings besides its request form (issue 10): its settings, set by the council;
its exports, downloaded as CSV and audited; its own tables through its branch of the tenant chain; its
periodic jobs, collected by the scheduler. Shown with the built-in ``events`` module, which holds all of
it in its own package."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, text

from bippop.accounts.models import AuditEvent, Person
from bippop.app import create_app
from bippop.config import Settings
from bippop.db import chains
from bippop.runtime.resources import PlatformResources
from bippop.scheduler import periodic_jobs
from bippop.tenants.context import TenantRef
from bippop_modules.events import jobs as event_jobs
from bippop_modules.events.models import Event, EventRegistration
from support import BASE_DOMAIN, csrf_token, forget_tenant_settings, host, log_in, make_person, make_tenant

SLUG = "reglages"
HTML = {"Accept": "text/html"}
Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def town(settings: Settings) -> TenantRef:
    return make_tenant(settings, SLUG, "Réglageville")


@contextlib.contextmanager
def signed_in(
    settings: Settings, resources: PlatformResources, town: TenantRef, roles: list[str]
) -> Iterator[Client]:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        staff = bool({"coordinator", "tenant_admin"} & set(roles))
        _id, email, secret = make_person(resources, town, roles, totp=staff)
        log_in(web, SLUG, email, secret)
        yield web


def get(web: Client, path: str) -> Any:
    return web.get(path, headers={**host(SLUG), **HTML}, follow_redirects=False)


def post(web: Client, path: str, data: dict[str, Any]) -> Any:
    token = web.cookies.get("csrftoken") or csrf_token(web, SLUG)
    return web.post(
        path, data={**data, "_csrf_token": token}, headers={**host(SLUG), **HTML}, follow_redirects=False
    )


def an_event(
    resources: PlatformResources, town: TenantRef, title: str, *, days: int, people: list[str]
) -> uuid.UUID:
    event_id = uuid.uuid4()
    starts = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
    with resources.tenant_session(town) as session, session.begin():
        session.add(
            Event(
                id=event_id,
                title=title,
                place="Salle des fêtes",
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=2),
                capacity=10,
            )
        )
        session.flush()
        for name in people:
            person_id = uuid.uuid4()
            session.add(Person(id=person_id, display_name=name, roles=["beneficiary"]))
            session.flush()
            session.add(
                EventRegistration(
                    id=uuid.uuid4(), event_id=event_id, person_id=person_id, status="registered"
                )
            )
    return event_id


def test_a_module_setting_is_checked_saved_and_used(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with signed_in(settings, resources, town, ["tenant_admin"]) as web:
        page = get(web, "/coordination/modules")
        assert 'href="/coordination/modules/events"' in page.text
        form = get(web, "/coordination/modules/events")
        assert (
            form.status_code == 200 and 'name="default_capacity"' in form.text and 'value="20"' in form.text
        )
        refused = post(web, "/coordination/modules/events", {"default_capacity": "0"})
        assert refused.status_code == 400
        assert 'id="error-default_capacity"' in refused.text and "1" in refused.text
        assert 'value="20"' in get(web, "/coordination/modules/events").text  # nothing kept
        saved = post(web, "/coordination/modules/events", {"default_capacity": "35"})
        assert saved.status_code == 303
        assert 'value="35"' in get(web, "/coordination/evenements").text  # the new event's form proposes it
        assert get(web, "/coordination/modules/visits").status_code == 404  # no settings: no page
    with resources.tenant_session(town) as session:
        changed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "module_settings_changed")
        ).all()
        assert changed and changed[-1].details["after"] == {"default_capacity": 35}


def test_a_volunteer_cannot_open_a_modules_settings(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with signed_in(settings, resources, town, ["volunteer"]) as web:
        assert get(web, "/coordination/modules/events").status_code == 403
        assert post(web, "/coordination/modules/events", {"default_capacity": "5"}).status_code == 403


def test_an_export_downloads_as_csv_is_audited_and_defuses_formulas(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    an_event(resources, town, '=HYPERLINK("http://evil.example")', days=3, people=["Odette Lemoine"])
    an_event(resources, town, "Repas passé", days=-30, people=["Marcel Ancien"])
    with signed_in(settings, resources, town, ["partner"]) as web:
        listing = get(web, "/coordination/exports")
        assert (
            listing.status_code == 200
            and 'href="/coordination/exports/events/registrations.csv"' in listing.text
        )
        download = get(web, "/coordination/exports/events/registrations.csv")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        body = download.content.decode("utf-8-sig")
        assert body.splitlines()[0] == "Événement;Date;Personne;Inscription"
        assert "Odette Lemoine" in body and "Marcel Ancien" not in body  # events to come only
        assert "'=HYPERLINK" in body  # a spreadsheet shows it as text, never runs it
        assert get(web, "/coordination/exports/events/nothing.csv").status_code == 404
    with resources.tenant_session(town) as session:
        exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "module_export")).all()
        assert exported and exported[-1].details["rows"] >= 1
    with signed_in(settings, resources, town, ["volunteer"]) as web:
        assert get(web, "/coordination/exports").status_code == 403
        assert get(web, "/coordination/exports/events/registrations.csv").status_code == 403


def test_a_module_switched_off_takes_its_pages_and_exports_away(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with signed_in(settings, resources, town, ["coordinator"]) as web:
        assert get(web, "/coordination/evenements").status_code == 200
        assert 'href="/coordination/evenements"' in get(web, "/coordination/taches").text
        with resources.tenant_session(town) as session, session.begin():
            session.execute(
                text("insert into settings (key, value) values ('modules.enabled', '[\"visits\"]')")
            )
        forget_tenant_settings(resources, town)
        try:
            assert get(web, "/coordination/evenements").status_code == 404
            assert get(web, "/evenements").status_code == 404
            assert 'href="/coordination/evenements"' not in get(web, "/coordination/taches").text
            assert get(web, "/coordination/exports/events/registrations.csv").status_code == 404
        finally:
            with resources.tenant_session(town) as session, session.begin():
                session.execute(text("delete from settings where key = 'modules.enabled'"))
            forget_tenant_settings(resources, town)


def test_the_modules_branch_is_part_of_every_tenant_schema(
    resources: PlatformResources, town: TenantRef
) -> None:
    assert "events_0001" in chains.heads("tenant") and len(chains.heads("tenant")) >= 2
    with resources.tenant_session(town) as session:
        versions = set(session.scalars(text("select version_num from alembic_version")))
        assert versions == set(chains.heads("tenant"))
        assert session.scalar(text("select to_regclass('event_registrations')")) is not None


def test_the_modules_periodic_job_is_scheduled_and_purges_only_old_registrations(
    resources: PlatformResources, town: TenantRef
) -> None:
    assert "purge_event_registrations" in {job.job_id for job in periodic_jobs()}
    old = an_event(
        resources,
        town,
        "Loto de l'an dernier",
        days=-(event_jobs.REGISTRATIONS_KEPT_DAYS + 5),
        people=["Anne"],
    )
    recent = an_event(resources, town, "Loto du mois", days=-10, people=["Bruno"])
    with resources.tenant_session(town) as session, session.begin():
        deleted = event_jobs.purge_old_registrations(session, now=datetime.datetime.now(datetime.UTC))
    assert deleted == 1
    with resources.tenant_session(town) as session:
        left = set(
            session.scalars(
                select(EventRegistration.event_id).where(EventRegistration.event_id.in_([old, recent]))
            )
        )
    assert left == {recent}


def test_old_registrations_are_purged_with_the_module_switched_off(
    resources: PlatformResources, town: TenantRef
) -> None:
    old = an_event(
        resources, town, "Bal d'antan", days=-(event_jobs.REGISTRATIONS_KEPT_DAYS + 9), people=["Yvette"]
    )
    with resources.tenant_session(town) as session, session.begin():
        session.execute(text("insert into settings (key, value) values ('modules.enabled', '[\"visits\"]')"))
    try:
        with resources.tenant_session(town) as session, session.begin():
            assert event_jobs.purge_old_registrations(session, now=datetime.datetime.now(datetime.UTC)) == 1
        with resources.tenant_session(town) as session:
            assert not session.scalars(
                select(EventRegistration).where(EventRegistration.event_id == old)
            ).all()
    finally:
        with resources.tenant_session(town) as session, session.begin():
            session.execute(text("delete from settings where key = 'modules.enabled'"))
        forget_tenant_settings(resources, town)


# --- the tenant's cached settings ----------------------------------------------------------------------


def _cache_copy(
    resources: PlatformResources, town: TenantRef, enabled: list[str] | None, *, stale: bool
) -> None:
    """Write a cached copy of the settings as a page would (``stale``: one generation behind)."""
    import json

    import redis

    from bippop.tenants.cache import forget_local
    from bippop.tenants.context import tenant_cache_key

    client = redis.Redis.from_url(resources.settings.redis_url or "")
    try:
        generation = int(client.get(tenant_cache_key("settings-generation", tenant=town)) or 0)
        copy = {
            "default_locale": "fr",
            "enabled_modules": enabled,
            "published": True,
            "generation": generation - (1 if stale else 0),
        }
        client.set(tenant_cache_key("settings", tenant=town), json.dumps(copy), ex=60)
    finally:
        client.close()
    # Written behind the pages' back: this process's copy of the host's lookup (which carries the
    # settings copy) would show the previous one for up to a second more.
    forget_local(tenant_id=town.id)


def test_a_copy_written_before_a_change_is_not_trusted(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        forget_tenant_settings(resources, town)
        # A reader that raced a change wrote its copy at the generation before the change: ignored.
        _cache_copy(resources, town, ["visits"], stale=True)
        assert get(web, "/evenements").status_code == 200
        # A copy at the current generation is used (the switch below is the copy's, not the table's).
        _cache_copy(resources, town, ["visits"], stale=False)
        assert get(web, "/evenements").status_code == 404
        forget_tenant_settings(resources, town)


def test_a_change_reads_the_table_not_the_copy(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    event_id = an_event(resources, town, "Atelier mémoire", days=5, people=[])
    with signed_in(settings, resources, town, ["beneficiary"]) as web:
        with resources.tenant_session(town) as session, session.begin():
            session.execute(
                text("insert into settings (key, value) values ('modules.enabled', '[\"visits\"]')")
            )
        try:
            _cache_copy(resources, town, None, stale=False)  # a copy saying every module is on
            assert get(web, "/evenements").status_code == 200  # a page reads the copy
            refused = post(web, f"/evenements/{event_id}/inscription", {})
            assert refused.status_code == 404  # the action reads the table: the module is off
        finally:
            with resources.tenant_session(town) as session, session.begin():
                session.execute(text("delete from settings where key = 'modules.enabled'"))
            forget_tenant_settings(resources, town)


def test_pages_go_on_when_redis_refuses_the_settings_copy(
    settings: Settings, resources: PlatformResources, town: TenantRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        redis = web.app.state.redis

        async def refused(*_args: object, **_kwargs: object) -> None:
            raise RedisConnectionError("refused")

        monkeypatch.setattr(redis, "mget", refused)
        assert get(web, "/").status_code == 200
        assert get(web, "/evenements").status_code == 200


def test_head_never_redirects_to_itself_and_a_get_of_an_action_goes_to_its_page(
    settings: Settings, resources: PlatformResources, town: TenantRef
) -> None:
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as web:
        for path in ("/", "/evenements", "/connexion", "/healthz", "/nothing-here"):
            answer = web.head(path, headers=host(SLUG), follow_redirects=False)
            assert answer.status_code != 303, path
        event_id = an_event(resources, town, "Goûter", days=2, people=[])
        action = f"/evenements/{event_id}/inscription"
        assert web.head(action, headers=host(SLUG), follow_redirects=False).status_code == 405
        page = web.get(action, headers={**host(SLUG), **HTML}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/evenements"
