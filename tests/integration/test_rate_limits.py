"""Rate limits: per account and per address, per tenant, with a message that says when to retry."""

from __future__ import annotations

import uuid

from bippop.accounts.rate_limits import RateLimiter, account_key, address_key
from bippop.config import Settings
from bippop.web import i18n


def _limiter(settings: Settings) -> RateLimiter:
    assert settings.redis_url
    return RateLimiter(settings.redis_url)


def test_sixth_sign_in_attempt_on_one_account_waits(settings: Settings) -> None:
    limiter, tenant = _limiter(settings), uuid.uuid4()
    for i in range(5):
        assert (
            limiter.hit("sign_in", tenant_id=tenant, account="Jeanne@Example.fr", address=f"10.0.0.{i}")
            is None
        )
    refusal = limiter.hit("sign_in", tenant_id=tenant, account="jeanne@example.fr ", address="10.0.0.99")
    assert refusal is not None
    assert 1 <= refusal.retry_after_seconds <= 15 * 60
    # Another tenant's account of the same address is not affected.
    assert (
        limiter.hit("sign_in", tenant_id=uuid.uuid4(), account="jeanne@example.fr", address="10.0.0.99")
        is None
    )


def test_one_address_cannot_try_many_accounts(settings: Settings) -> None:
    limiter, tenant = _limiter(settings), uuid.uuid4()
    results = [
        limiter.hit("sign_in", tenant_id=tenant, account=f"p{i}@example.fr", address="2001:db8::1")
        for i in range(31)
    ]
    assert all(r is None for r in results[:30])
    assert results[30] is not None
    # The same /64 counts as one address.
    assert (
        limiter.hit("sign_in", tenant_id=tenant, account="other@example.fr", address="2001:db8::2")
        is not None
    )


def test_success_forgets_the_accounts_failures(settings: Settings) -> None:
    limiter, tenant = _limiter(settings), uuid.uuid4()
    for _ in range(5):
        limiter.hit("sign_in", tenant_id=tenant, account="paul@example.fr", address="10.1.1.1")
    limiter.forget_account("sign_in", tenant_id=tenant, account="paul@example.fr")
    assert limiter.hit("sign_in", tenant_id=tenant, account="paul@example.fr", address="10.1.1.2") is None


def test_keys_carry_the_tenant_and_no_email(settings: Settings) -> None:
    limiter, tenant = _limiter(settings), uuid.uuid4()
    limiter.hit("password_reset", tenant_id=tenant, account="secret.person@example.fr", address="10.2.2.2")
    from redis import Redis

    keys = [k.decode() for k in Redis.from_url(settings.redis_url or "").scan_iter(match=f"*{tenant}*")]
    assert keys and all(str(tenant) in k for k in keys)
    assert not any("secret" in k or "example.fr" in k for k in keys)
    assert account_key("A@B.fr") == account_key(" a@b.fr")
    assert address_key("not an ip") == "unknown"


def test_refusal_message_in_the_persons_language() -> None:
    from bippop.accounts.rate_limits import Refusal

    token = i18n.current_locale.set("en")
    try:
        assert Refusal(130).message == "Too many attempts. Please try again in 3 minutes."
    finally:
        i18n.current_locale.reset(token)
    token = i18n.current_locale.set("fr")
    try:
        assert "3 minutes" in Refusal(130).message and "essais" in Refusal(130).message
    finally:
        i18n.current_locale.reset(token)
