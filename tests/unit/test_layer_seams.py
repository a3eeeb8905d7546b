"""The seams that keep the layers apart (issue 10): each lower layer names nothing above it, and what the
upper layers hand down (pages for shared paths, the delivery job's name, the file storage) fits."""

from __future__ import annotations

import uuid

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from bippop.broker import enqueue_by_name
from bippop.storage import tenant_prefix
from bippop.tenants.files import files_prefix
from bippop.web import site_pages


def test_a_site_kind_serves_only_the_shared_pages_it_registered() -> None:
    async def page(request, db_session, data):  # type: ignore[no-untyped-def]
        raise AssertionError("not called")

    site_pages.register_site_pages("test-kind", {site_pages.SIGN_IN: page})
    assert site_pages.site_page(site_pages.SIGN_IN, "test-kind") is page
    assert site_pages.site_page(site_pages.HOME, "test-kind") is None
    with pytest.raises(KeyError):
        site_pages.register_site_pages("test-kind", {"no-such-page": page})


def test_assembly_gives_the_console_and_the_tenant_their_pages() -> None:
    from bippop.assembly import wire_site_pages
    from bippop.coop import controllers as coop_pages
    from bippop.onboarding.public_site import controllers as public_pages
    from bippop.onboarding.wizard.controllers import WIZARD_CONTROLLERS, sign_up_entry

    controllers = wire_site_pages()
    assert controllers == [
        *coop_pages.COOP_CONTROLLERS,
        *public_pages.PUBLIC_SITE_CONTROLLERS,
        *WIZARD_CONTROLLERS,
    ]
    # /inscription on the public site is the councils' wizard; on a tenant's host, the residents' sign-up.
    assert site_pages.site_page(site_pages.SIGN_UP_FORM, "public") is sign_up_entry
    assert site_pages.site_page(site_pages.SIGN_UP_FORM, "tenant") is None
    assert site_pages.site_page(site_pages.HOME, "coop") is coop_pages.SITE_PAGES[site_pages.HOME]
    assert site_pages.site_page(site_pages.HOME, "tenant") is not None
    # A tenant's sign-in is the accounts' own handler: nothing registered in its place.
    assert site_pages.site_page(site_pages.SIGN_IN, "tenant") is None
    # The console serves every shared path but those of the public site and tenants only.
    only_elsewhere = {site_pages.CONTACT, site_pages.CONTACT_SEND, site_pages.SIGN_UP_FORM}
    assert set(coop_pages.SITE_PAGES) == site_pages.PAGES - only_elsewhere


def test_the_outbox_names_the_delivery_job_the_notifications_declare() -> None:
    from bippop.notifications.jobs import deliver_message
    from bippop.outbox.after_commit import DELIVERY_ACTOR, DELIVERY_QUEUE

    assert (deliver_message.actor_name, deliver_message.queue_name) == (DELIVERY_ACTOR, DELIVERY_QUEUE)


def test_a_job_is_enqueued_by_name_without_its_actor() -> None:
    previous = dramatiq.get_broker()
    broker = StubBroker()
    dramatiq.set_broker(broker)
    try:
        message = enqueue_by_name("elsewhere", "declared_above", "42")
        assert broker.queues["elsewhere"].qsize() == 1
        assert (message.actor_name, message.args) == ("declared_above", ("42",))
    finally:
        dramatiq.set_broker(previous)


def test_the_tenancy_core_and_storage_agree_on_a_tenants_folder() -> None:
    tenant_id = uuid.uuid4()
    assert files_prefix(tenant_id) == tenant_prefix(tenant_id) == f"tenants/{tenant_id}/"
