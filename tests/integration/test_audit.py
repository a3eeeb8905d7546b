"""The audit log: recorded in the action's transaction, filtered for administrators, append-only,
kept for the retention period, and written when a tenant is exported."""

from __future__ import annotations

import datetime
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from bippop.accounts import audit
from bippop.config import Settings
from bippop.observability import RequestInfo, _request
from bippop.runtime.operations import export_tenant, resources_for
from bippop.tenants.context import TenantRef
from support import make_tenant


def test_events_carry_who_what_and_from_where(settings: Settings, tenant: TenantRef) -> None:
    actor, subject = uuid.uuid4(), uuid.uuid4()
    token = _request.set(RequestInfo("req-audit-0001", "203.0.113.7"))
    try:
        with resources_for(settings).tenant_session(tenant) as session, session.begin():
            audit.record(
                session, "beneficiary.read", actor_id=actor, subject_type="person", subject_id=subject
            )
            audit.record(session, "role.granted", actor_id=actor, details={"role": "volunteer"})
    finally:
        _request.reset(token)
    with resources_for(settings).tenant_session(tenant) as session:
        [read] = audit.search(session, subject_type="person", subject_id=subject)
        assert (read.action, read.actor_id, read.ip_address, read.request_id) == (
            "beneficiary.read",
            actor,
            "203.0.113.7",
            "req-audit-0001",
        )
        by_actor = audit.search(session, actor_id=actor)
        assert {e.action for e in by_actor} == {"role.granted", "beneficiary.read"}
        assert audit.search(session, action="role.granted", actor_id=actor)[0].details == {
            "role": "volunteer"
        }


def test_a_rolled_back_action_leaves_no_event(settings: Settings, tenant: TenantRef) -> None:
    marker = uuid.uuid4()
    with (
        pytest.raises(RuntimeError),
        resources_for(settings).tenant_session(tenant) as session,
        session.begin(),
    ):
        audit.record(session, "beneficiary.updated", subject_id=marker)
        raise RuntimeError("the change failed")
    with resources_for(settings).tenant_session(tenant) as session:
        assert audit.search(session, subject_id=marker) == []


def test_the_application_cannot_alter_or_delete_events(settings: Settings, tenant: TenantRef) -> None:
    with resources_for(settings).tenant_session(tenant) as session, session.begin():
        audit.record(session, "sign_in.succeeded")
    for statement in ("delete from audit_events", "update audit_events set action = 'nothing'"):
        with (
            pytest.raises(ProgrammingError, match="append-only"),
            resources_for(settings).tenant_session(tenant) as session,
            session.begin(),
        ):
            session.execute(text(statement))


def test_retention_purge_keeps_recent_events(settings: Settings) -> None:
    ref = make_tenant(settings, "audit-retention", "Mémoireville")
    resources = resources_for(settings)
    with resources.admin_engine.begin() as connection:
        connection.execute(text(f"set local search_path to {ref.schema}"))
        old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
        connection.execute(
            text(
                "insert into audit_events (id, occurred_at, action) values (:i, :t, 'old'), (:j, now(), 'recent')"
            ),
            {"i": uuid.uuid4(), "j": uuid.uuid4(), "t": old},
        )
    from bippop.tenants.jobs import purge_audit_events

    purge_audit_events.fn()
    with resources.tenant_session(ref) as session:
        assert [e.action for e in audit.search(session)] == ["recent"]


def test_retention_purge_goes_on_past_a_tenant_on_an_undeclared_cluster(settings: Settings) -> None:
    # A tenant left on a cluster these settings no longer declare used to stop every tenant's purge.
    from bippop.tenants.jobs import purge_audit_events

    stray = make_tenant(settings, "audit-stray", "Égaréville")
    kept = make_tenant(settings, "audit-kept", "Gardeville")
    resources = resources_for(settings)
    with resources.admin_engine.begin() as connection:
        connection.execute(
            text("update platform.tenants set cluster = 'gone' where id = :id"), {"id": stray.id}
        )
        connection.execute(text(f"set local search_path to {kept.schema}"))
        old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
        connection.execute(
            text("insert into audit_events (id, occurred_at, action) values (:i, :t, 'old')"),
            {"i": uuid.uuid4(), "t": old},
        )
    try:
        purge_audit_events.fn()
    finally:
        with resources.admin_engine.begin() as connection:
            connection.execute(
                text("update platform.tenants set cluster = 'main' where id = :id"), {"id": stray.id}
            )
    with resources.tenant_session(kept) as session:
        assert [e.action for e in audit.search(session)] == []


def test_an_export_is_recorded_in_the_tenants_log(settings: Settings) -> None:
    ref = make_tenant(settings, "audit-export", "Traceville")
    key, manifest = export_tenant(settings, "audit-export")
    assert manifest["tables"]["audit_events"]["rows"] == 0  # the event follows the snapshot
    with resources_for(settings).tenant_session(ref) as session:
        [event] = audit.search(session, action="tenant.exported")
    assert event.details == {"archive": key}
