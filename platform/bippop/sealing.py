"""Secrets kept in the database, encrypted: TOTP seeds, single sign-on client secrets, SMS API keys.

Fernet, with a key derived (HKDF-SHA256) from BIPPOP_SECRET_KEY and the purpose, so that a value
sealed for one purpose cannot be opened as another.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEAL_LABEL = b"bippop-seal-v1:"


class SealError(ValueError):
    """A sealed value cannot be read with this BIPPOP_SECRET_KEY (changed key, or damaged value)."""


def _fernet(secret_key: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_LABEL + purpose.encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str, secret_key: str, *, purpose: str) -> str:
    """Encrypt ``value`` with a key derived from BIPPOP_SECRET_KEY for this ``purpose`` only."""
    return _fernet(secret_key, purpose).encrypt(value.encode()).decode()


def unseal(sealed: str, secret_key: str, *, purpose: str) -> str:
    try:
        return _fernet(secret_key, purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SealError(f"a sealed {purpose} value cannot be read with this BIPPOP_SECRET_KEY") from None
