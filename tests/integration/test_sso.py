"""Sign-in with FranceConnect and ProConnect, against a local OpenID provider (tests/oidc_provider.py).

The browser's round trip is played by hand: the portal's redirect to the provider, the provider's
redirect back (a real HTTP request to the mock), then the return to the portal.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import delete, func, select

from bippop import sealing
from bippop.accounts import oidc
from bippop.accounts.models import AuditEvent, ExternalIdentity, Person, Setting
from bippop.app import create_app
from bippop.config import Settings
from bippop.runtime.channels import configure_sign_in
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from oidc_provider import TAMPERINGS, MockProvider
from support import BASE_DOMAIN, csrf_token, host, make_person, totp_now

SECRETS = {"alpha-fc": "alpha-fc-secret", "alpha-pc": "alpha-pc-secret", "beta-fc": "beta-fc-secret"}


@pytest.fixture(scope="module")
def op() -> Iterator[MockProvider]:
    provider = MockProvider().start()
    for client_id, secret in SECRETS.items():
        provider.register(client_id, secret)
    yield provider
    provider.stop()


def _clear_sso(resources: PlatformResources, *tenants: TenantRef) -> None:
    for tenant in tenants:
        with resources.sessions()(info={"tenant": tenant}) as session, session.begin():
            session.execute(delete(Setting).where(Setting.key.like("sso.%")))


@pytest.fixture(scope="module")
def configured(
    op: MockProvider,
    settings: Settings,
    resources: PlatformResources,
    tenant: TenantRef,
    other_tenant: TenantRef,
) -> Iterator[MockProvider]:
    """Alpha: FranceConnect and ProConnect; beta: FranceConnect only. Left as found afterwards."""
    for slug, provider, client_id in (
        ("alpha", "franceconnect", "alpha-fc"),
        ("alpha", "proconnect", "alpha-pc"),
        ("beta", "franceconnect", "beta-fc"),
    ):
        configure_sign_in(
            settings, slug, provider, issuer=op.issuer, client_id=client_id, client_secret=SECRETS[client_id]
        )
    yield op
    _clear_sso(resources, tenant, other_tenant)


@pytest.fixture
def victim(settings: Settings, configured: MockProvider) -> Iterator[TestClient[Any]]:
    """A second browser (made before the test runs: a new app resets the log handlers)."""
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        client.cookies.set("bippop_lang", "en")
        yield client


@pytest.fixture
def web(settings: Settings, configured: MockProvider) -> Iterator[TestClient[Any]]:
    configured.reset()
    with TestClient(create_app(settings), base_url=f"http://{BASE_DOMAIN}") as client:
        client.cookies.set("bippop_lang", "en")
        yield client


def _start(web: TestClient[Any], provider: str, slug: str = "alpha", next_url: str = "/compte") -> str:
    """The portal's first step; returns the provider's authorization URL."""
    response = web.get(
        f"/connexion/{provider}", params={"next_url": next_url}, headers=host(slug), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    parts = urlsplit(str(response.headers["location"]))
    if parts.path == f"/connexion/{provider}":  # first to the tenant's registered address, then the provider
        response = web.get(
            f"{parts.path}?{parts.query}", headers={"Host": parts.netloc}, follow_redirects=False
        )
        assert response.status_code == 303, response.text
    return str(response.headers["location"])


def _at_provider(url: str) -> str:
    """What the provider does with the browser; returns the portal URL it sends it back to."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return str(response.headers["location"])


def _back(web: TestClient[Any], url: str, slug: str | None = None) -> httpx.Response:
    parts = urlsplit(url)
    return web.get(
        f"{parts.path}?{parts.query}",
        headers=host(slug) if slug else {"Host": parts.netloc},
        follow_redirects=False,
    )


def _sign_in(
    web: TestClient[Any], provider: str, slug: str = "alpha", next_url: str = "/compte"
) -> httpx.Response:
    return _back(web, _at_provider(_start(web, provider, slug, next_url)))


def _resident(**claims: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "sub": f"fc-{tag}",
        "email": f"resident-{tag}@example.org",
        "given_name": "Angela Claire",
        "family_name": "Dubois",
        **claims,
    }


def _agent(**claims: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "sub": f"pc-{tag}",
        "email": f"agent-{tag}@mairie.example.fr",
        "given_name": "Jean",
        "usual_name": "Martin",
        **claims,
    }


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, object]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


def _signed_in_email(web: TestClient[Any], slug: str = "alpha") -> str | None:
    page = web.get("/compte", headers={**host(slug), "Accept": "text/html"}, follow_redirects=False)
    return page.text if page.status_code == 200 else None


def _tenant_scalar(resources: PlatformResources, tenant: TenantRef, query: Any) -> Any:
    with resources.sessions()(info={"tenant": tenant}) as session:
        return session.scalar(query)


# The sign-in page ------------------------------------------------------------------------------


def test_sign_in_page_offers_the_enabled_providers(web: TestClient[Any]) -> None:
    alpha = web.get("/connexion?next_url=/compte", headers=host("alpha"))
    assert 'href="/connexion/franceconnect?next_url=/compte">FranceConnect<' in alpha.text
    assert 'href="/connexion/proconnect?next_url=/compte">ProConnect<' in alpha.text
    beta = web.get("/connexion", headers=host("beta"))
    assert "/connexion/franceconnect" in beta.text and "/connexion/proconnect" not in beta.text


def test_the_authorization_request_carries_state_nonce_acr_and_pkce(
    web: TestClient[Any], op: MockProvider
) -> None:
    url = _start(web, "franceconnect", next_url="https://evil.example/")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert url.startswith(f"{op.issuer}/authorize?")
    assert query["client_id"] == "alpha-fc"
    # The tenant's registered address (its first custom domain), not the host the person came on.
    assert query["redirect_uri"] == "http://aide.alphaville.fr/connexion/franceconnect/retour"
    assert query["scope"] == "openid email given_name family_name"
    assert query["acr_values"] == "eidas1"
    assert query["response_type"] == "code"
    assert len(query["state"]) >= 40 and len(query["nonce"]) >= 40 and query["state"] != query["nonce"]
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    # ProConnect asks for the agent's usual name.
    pc = {k: v[0] for k, v in parse_qs(urlsplit(_start(web, "proconnect")).query).items()}
    assert pc["scope"] == "openid email given_name usual_name" and pc["client_id"] == "alpha-pc"


# FranceConnect --------------------------------------------------------------------------------


def test_franceconnect_creates_a_new_resident_and_signs_them_in(
    web: TestClient[Any],
    op: MockProvider,
    resources: PlatformResources,
    tenant: TenantRef,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    op.user = _resident()
    response = _sign_in(web, "franceconnect")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/compte"
    assert "bippop_session=" in response.headers.get("set-cookie", "")
    page = _signed_in_email(web)
    assert page is not None and op.user["email"] in page
    with resources.sessions()(info={"tenant": tenant}) as session:
        person = session.scalar(select(Person).where(Person.email == op.user["email"]))
        assert person is not None
        assert person.roles == ["beneficiary"]
        assert person.display_name == "Angela Dubois"
        assert person.password_hash is None and person.email_verified_at is not None
        link = session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == op.user["sub"]))
        assert link is not None and link.provider == "franceconnect" and link.person_id == person.id
        created = session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "account_created", AuditEvent.subject_id == person.id
            )
        )
        assert created is not None and created.details["method"] == "franceconnect"
    [line] = _events(caplog, "sso_signed_in")
    assert line["how"] == "created" and line["provider"] == "franceconnect"
    ours = " ".join(str(r.msg) for r in caplog.records if r.name.startswith("bippop"))
    assert op.user["email"] not in ours and op.user["sub"] not in ours


def test_existing_person_is_linked_by_email(
    web: TestClient[Any],
    op: MockProvider,
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    person_id, email, _ = make_person(resources, tenant, ["volunteer"])
    op.user = _resident(email=email.upper())
    response = _sign_in(web, "franceconnect")
    assert response.status_code == 303, response.text
    page = _signed_in_email(web)
    assert page is not None and email in page
    with resources.sessions()(info={"tenant": tenant}) as session:
        link = session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == op.user["sub"]))
        assert link is not None and link.person_id == person_id
        event = session.scalar(
            select(AuditEvent).where(AuditEvent.action == "sso_linked", AuditEvent.subject_id == person_id)
        )
        assert event is not None and event.details == {"provider": "franceconnect"}
        assert session.scalar(select(Person.roles).where(Person.id == person_id)) == ["volunteer"]


def test_an_unconfirmed_account_is_not_linked(
    web: TestClient[Any],
    op: MockProvider,
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    """Anyone can sign up with an address they do not own: such an account is never linked."""
    person_id, email, _ = make_person(resources, tenant, ["beneficiary"], verified=False)
    op.user = _resident(email=email)
    response = _sign_in(web, "franceconnect")
    assert response.status_code == 403
    assert "waiting for its confirmation" in response.text
    assert (
        _tenant_scalar(
            resources,
            tenant,
            select(func.count()).select_from(ExternalIdentity).where(ExternalIdentity.person_id == person_id),
        )
        == 0
    )


def test_second_sign_in_finds_the_linked_identity(
    web: TestClient[Any],
    victim: TestClient[Any],
    op: MockProvider,
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    op.user = _resident()
    first = _sign_in(web, "franceconnect")
    assert first.status_code == 303
    original = op.user["email"]
    # The person changed their address at the provider: the subject is what counts.
    op.user = {**op.user, "email": f"new-{uuid.uuid4().hex[:6]}@example.org"}
    second = _sign_in(victim, "franceconnect")
    assert second.status_code == 303, second.text
    page = _signed_in_email(victim)
    assert page is not None and original in page
    with resources.sessions()(info={"tenant": tenant}) as session:
        assert (
            session.scalar(select(func.count()).select_from(Person).where(Person.email == op.user["email"]))
            == 0
        )
        links = session.scalar(
            select(func.count())
            .select_from(ExternalIdentity)
            .where(ExternalIdentity.subject == op.user["sub"])
        )
        assert links == 1


def test_cancelling_at_the_provider_comes_back_calmly(web: TestClient[Any], op: MockProvider) -> None:
    op.cancel = True
    response = _sign_in(web, "franceconnect")
    assert response.status_code == 200
    assert "You came back from FranceConnect without signing in" in response.text
    assert 'action="/connexion"' in response.text
    assert op.token_requests == 0
    assert _signed_in_email(web) is None


# ProConnect -----------------------------------------------------------------------------------


def test_proconnect_never_creates_an_account(
    web: TestClient[Any],
    op: MockProvider,
    resources: PlatformResources,
    tenant: TenantRef,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    op.user = _agent()
    response = _sign_in(web, "proconnect")
    assert response.status_code == 403
    assert "coordinator for an invitation" in response.text
    assert "Alphaville" in response.text
    assert _signed_in_email(web) is None
    assert (
        _tenant_scalar(resources, tenant, select(Person.id).where(Person.email == op.user["email"])) is None
    )
    assert [e["reason"] for e in _events(caplog, "sso_refused")] == ["unknown_agent"]


def test_proconnect_coordinator_with_totp_goes_to_the_code_step(
    web: TestClient[Any],
    op: MockProvider,
    resources: PlatformResources,
    tenant: TenantRef,
) -> None:
    person_id, email, secret = make_person(resources, tenant, ["coordinator"], totp=True)
    assert secret
    op.user = _agent(email=email)
    op.userinfo_as_jwt = True  # as ProConnect does
    response = _sign_in(web, "proconnect", next_url="/compte")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/connexion/code"
    assert _signed_in_email(web) is None  # not before the second factor
    token = csrf_token(web, "alpha")
    done = web.post(
        "/connexion/code",
        data={"code": totp_now(secret), "_csrf_token": token},
        headers=host("alpha"),
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/compte"
    page = _signed_in_email(web)
    assert page is not None and email in page
    link = _tenant_scalar(
        resources, tenant, select(ExternalIdentity).where(ExternalIdentity.person_id == person_id)
    )
    assert link is not None and link.provider == "proconnect"


# What is refused ------------------------------------------------------------------------------


def test_a_state_works_once(web: TestClient[Any], op: MockProvider, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    op.user = _resident()
    back_url = _at_provider(_start(web, "franceconnect"))
    assert _back(web, back_url).status_code == 303
    again = _back(web, back_url)
    assert again.status_code == 400
    assert "Signing in with FranceConnect did not work" in again.text
    assert [e["reason"] for e in _events(caplog, "sso_failed")] == ["state_unknown"]
    assert op.token_requests == 1


def test_a_state_from_alpha_finds_nothing_on_beta(
    web: TestClient[Any],
    op: MockProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    op.user = _resident()
    back_url = _at_provider(_start(web, "franceconnect", "alpha"))
    on_beta = _back(web, back_url, slug="beta")
    assert on_beta.status_code == 400
    assert [e["reason"] for e in _events(caplog, "sso_failed")] == ["state_unknown"]
    assert op.token_requests == 0
    assert _signed_in_email(web, "beta") is None
    # Beta's attempt did not burn alpha's sign-in.
    assert _back(web, back_url, slug="alpha").status_code == 303


def test_a_return_without_the_browser_that_started_is_refused(
    web: TestClient[Any],
    victim: TestClient[Any],
    op: MockProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Someone else's code and state, sent as a link, do not sign the victim in as them."""
    caplog.set_level(logging.INFO)
    op.user = _resident()
    back_url = _at_provider(_start(web, "franceconnect"))
    response = _back(victim, back_url)
    assert response.status_code == 400
    assert _signed_in_email(victim) is None
    assert [e["reason"] for e in _events(caplog, "sso_failed")] == ["state_other_browser"]


@pytest.mark.parametrize("tamper", TAMPERINGS)
def test_a_wrong_id_token_is_refused(
    web: TestClient[Any],
    op: MockProvider,
    resources: PlatformResources,
    tenant: TenantRef,
    caplog: pytest.LogCaptureFixture,
    tamper: str,
) -> None:
    caplog.set_level(logging.INFO)
    op.user = _resident()
    op.tamper = tamper
    response = _sign_in(web, "franceconnect")
    assert response.status_code == 400
    assert "Signing in with FranceConnect did not work" in response.text
    assert "bippop_session=" not in response.headers.get("set-cookie", "")
    assert _signed_in_email(web) is None
    assert (
        _tenant_scalar(resources, tenant, select(Person.id).where(Person.email == op.user["email"])) is None
    )
    [line] = _events(caplog, "sso_failed")
    expected = {
        "nonce": "id_token_invalid_claim_nonce",
        "aud": "id_token_invalid_claim_aud",
        "iss": "id_token_invalid_claim_iss",
        "acr": "id_token_invalid_claim_acr",
        "expired": "id_token_expired",
        "signature": "id_token_invalid_key_id",
        "forged": "id_token_bad_signature",
    }[tamper]
    assert line["reason"] == expected
    # Never a token or a code in our logs.
    ours = " ".join(str(r.msg) for r in caplog.records if r.name.startswith("bippop"))
    assert "eyJ" not in ours and "code" not in ours and op.user["email"] not in ours


def test_a_provider_not_enabled_does_not_exist(
    web: TestClient[Any], settings: Settings, op: MockProvider
) -> None:
    html = {"Accept": "text/html"}
    assert web.get("/connexion/proconnect", headers={**host("beta"), **html}).status_code == 404
    assert web.get("/connexion/proconnect/retour?code=x&state=y", headers=host("beta")).status_code == 404
    assert web.get("/connexion/nosuchthing", headers=host("alpha")).status_code == 404
    # The sign-in pages beside them are untouched.
    assert web.get("/connexion/lien", headers=host("alpha")).status_code == 200
    assert web.get("/connexion/code", headers=host("alpha"), follow_redirects=False).status_code == 303
    # Turned off, FranceConnect disappears from beta (and its settings stay for later).
    configure_sign_in(settings, "beta", "franceconnect", disable=True)
    try:
        assert web.get("/connexion/franceconnect", headers=host("beta")).status_code == 404
        assert "/connexion/franceconnect" not in web.get("/connexion", headers=host("beta")).text
    finally:
        configure_sign_in(
            settings,
            "beta",
            "franceconnect",
            issuer=op.issuer,
            client_id="beta-fc",
            client_secret=SECRETS["beta-fc"],
        )
    assert (
        web.get("/connexion/franceconnect", headers=host("beta"), follow_redirects=False).status_code == 303
    )


def test_an_unreachable_provider_gets_a_calm_page(
    web: TestClient[Any], settings: Settings, resources: PlatformResources, other_tenant: TenantRef
) -> None:
    configure_sign_in(
        settings, "beta", "proconnect", issuer="http://127.0.0.1:9/nobody", client_id="x", client_secret="y"
    )
    try:
        response = web.get("/connexion/proconnect", headers=host("beta"))
        assert response.status_code == 503
        assert "ProConnect is not answering at the moment" in response.text
    finally:
        with resources.sessions()(info={"tenant": other_tenant}) as session, session.begin():
            session.execute(delete(Setting).where(Setting.key == "sso.proconnect"))


# Configuration ---------------------------------------------------------------------------------


def test_cli_sets_and_disables_a_provider(
    settings: Settings,
    resources: PlatformResources,
    other_tenant: TenantRef,
    configured: MockProvider,
    web: TestClient[Any],
) -> None:
    from bippop import config
    from bippop.cli import main
    from bippop.runtime.resources import platform_resources

    configured.register("beta-pc", "beta-pc-secret")
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
        "BETA_PC_SECRET": "beta-pc-secret",
    }
    runner = CliRunner()
    config.get_settings.cache_clear()
    try:
        args = [
            "tenants",
            "sso",
            "beta",
            "proconnect",
            "--issuer",
            configured.issuer,
            "--client-id",
            "beta-pc",
        ]
        missing = runner.invoke(main, [*args, "--client-secret-env", "NOT_SET_ANYWHERE"], env=env)
        assert missing.exit_code == 2 and "NOT_SET_ANYWHERE" in missing.output
        plain_http = [*args[:4], "--issuer", "http://op.example", "--client-id", "x"]
        insecure = runner.invoke(main, [*plain_http, "--client-secret-env", "BETA_PC_SECRET"], env=env)
        assert insecure.exit_code == 2 and "https" in insecure.output
        done = runner.invoke(main, [*args, "--client-secret-env", "BETA_PC_SECRET"], env=env)
        assert done.exit_code == 0, done.output
        assert "activée" in done.output and "/connexion/proconnect/retour" in done.output
        with resources.sessions()(info={"tenant": other_tenant}) as session:
            value = session.scalar(select(Setting.value).where(Setting.key == "sso.proconnect"))
        assert (
            value["issuer"] == configured.issuer
            and value["client_id"] == "beta-pc"
            and value["enabled"] is True
        )
        assert "beta-pc-secret" not in str(value)
        key = settings.effective_secret_key()
        assert oidc.unseal(value["client_secret"], key, purpose=oidc.SEAL_PURPOSE) == "beta-pc-secret"
        assert platform_resources().settings == settings  # the command used this run's own settings

        configured.user = _agent()
        assert _sign_in(web, "proconnect", slug="beta").status_code == 403  # works: unknown agent, calmly

        off = runner.invoke(main, ["tenants", "sso", "beta", "proconnect", "--disable"], env=env)
        assert off.exit_code == 0, off.output
        assert "désactivée" in off.output
        assert web.get("/connexion/proconnect", headers=host("beta")).status_code == 404
        with resources.sessions()(info={"tenant": other_tenant}) as session:
            value = session.scalar(select(Setting.value).where(Setting.key == "sso.proconnect"))
        assert value["enabled"] is False and value["client_id"] == "beta-pc"
    finally:
        config.get_settings.cache_clear()
        with resources.sessions()(info={"tenant": other_tenant}) as session, session.begin():
            session.execute(delete(Setting).where(Setting.key == "sso.proconnect"))


# Pieces ------------------------------------------------------------------------------------------


def test_sealed_secrets_need_the_key_and_the_purpose() -> None:
    sealed = sealing.seal("s3cret", "k" * 40, purpose="sso-client-secret")
    assert "s3cret" not in sealed
    assert oidc.unseal(sealed, "k" * 40, purpose="sso-client-secret") == "s3cret"
    for key, purpose in (("other" * 8, "sso-client-secret"), ("k" * 40, "something-else")):
        with pytest.raises(oidc.SsoError):
            oidc.unseal(sealed, key, purpose=purpose)


async def test_the_directory_is_bounded_and_expires(op: MockProvider) -> None:
    now = [1000.0]
    directory = oidc.ProviderDirectory(ttl=300, max_issuers=1, clock=lambda: now[0])
    assert (await directory.metadata(op.issuer))["issuer"] == op.issuer
    assert (await directory.keys(op.issuer)).keys[0].kid == op.key.kid
    with pytest.raises(oidc.SsoError) as refused:
        await directory.metadata("http://127.0.0.1:9")
    assert refused.value.reason == "discovery_unreachable"
    second = MockProvider().start()
    try:
        await directory.metadata(second.issuer)
        assert list(directory._entries) == [second.issuer]  # one issuer at most: the oldest went
    finally:
        second.stop()
    now[0] += 301
    assert directory._fresh(second.issuer) is None
    assert not directory._entries
