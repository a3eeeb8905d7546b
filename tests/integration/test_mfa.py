"""TOTP enrollment and sign-in codes (once each, small clock drift), recovery codes burnt on use."""

from __future__ import annotations

import uuid

import pyotp
from sqlalchemy import text

from bippop.accounts import mfa
from bippop.accounts.models import Person
from bippop.config import Settings
from bippop.runtime.operations import resources_for
from bippop.tenants.context import TenantRef

KEY = "test-secret-key-" + "x" * 32
NOW = 1_800_000_000.0


def _person(settings: Settings, tenant: TenantRef, roles: list[str]) -> uuid.UUID:
    person_id = uuid.uuid4()
    with resources_for(settings).tenant_session(tenant) as session, session.begin():
        session.add(Person(id=person_id, display_name="Claire Coordination", roles=roles))
    return person_id


def test_required_for_staff_only() -> None:
    assert mfa.mfa_required(["volunteer", "coordinator"])
    assert mfa.mfa_required(["tenant_admin"])
    assert not mfa.mfa_required(["volunteer", "beneficiary", "relative", "partner"])


def test_enrollment_then_codes_accepted_once(settings: Settings, tenant: TenantRef) -> None:
    person_id = _person(settings, tenant, ["coordinator"])
    with resources_for(settings).tenant_session(tenant) as session, session.begin():
        person = session.get(Person, person_id)
        assert person is not None
        secret = mfa.start_enrollment(person, KEY)
        uri = mfa.provisioning_uri(secret, "claire@example.fr", tenant.name)
        assert uri.startswith("otpauth://totp/") and "Alphaville" in uri.replace("%20", " ")
        assert mfa.qr_svg(uri, "QR").startswith("<svg")
        assert person.totp_secret and secret not in person.totp_secret  # stored sealed
        assert not mfa.verify(person, pyotp.TOTP(secret).at(NOW), KEY, NOW)  # not confirmed yet
        codes = mfa.confirm_enrollment(session, person, pyotp.TOTP(secret).at(NOW), KEY, NOW)
        assert len(codes) == 10 and len(set(codes)) == 10
    with resources_for(settings).tenant_session(tenant) as session, session.begin():
        person = session.get(Person, person_id)
        assert person is not None
        totp = pyotp.TOTP(secret)
        later = NOW + 90
        assert mfa.verify(person, totp.at(later), KEY, later)
        assert not mfa.verify(person, totp.at(later), KEY, later)  # the same code twice: refused
        assert mfa.verify(person, totp.at(later + 30), KEY, later)  # one step of drift ahead
        assert not mfa.verify(person, totp.at(later + 600), KEY, later)
        assert not mfa.verify(person, "12345", KEY, later)
        assert not mfa.verify(person, "abcdef", KEY, later)


def test_recovery_codes_work_once_and_are_stored_hashed(settings: Settings, tenant: TenantRef) -> None:
    person_id = _person(settings, tenant, ["tenant_admin"])
    with resources_for(settings).tenant_session(tenant) as session, session.begin():
        person = session.get(Person, person_id)
        assert person is not None
        secret = mfa.start_enrollment(person, KEY)
        codes = mfa.confirm_enrollment(session, person, pyotp.TOTP(secret).at(NOW), KEY, NOW)
    with resources_for(settings).tenant_session(tenant) as session, session.begin():
        person = session.get(Person, person_id)
        assert person is not None
        assert mfa.use_recovery_code(session, person, codes[0].lower(), NOW)  # case and dash forgiven
        assert not mfa.use_recovery_code(session, person, codes[0], NOW)
        assert not mfa.use_recovery_code(session, person, "00000-00000", NOW)
        stored = session.execute(
            text("select code_hash from recovery_codes where person_id = :p"), {"p": person_id}
        )
        assert not any(code.replace("-", "") in row[0].upper() for row in stored for code in codes)


def test_a_secret_sealed_with_another_key_is_refused(settings: Settings, tenant: TenantRef) -> None:
    sealed = mfa.seal(mfa.new_secret(), KEY)
    try:
        mfa.unseal(sealed, "another-key-" + "y" * 32)
    except mfa.MfaError:
        pass
    else:
        raise AssertionError("unsealed with the wrong key")
