"""Text messages and voice calls: the provider interface, its adapters and each tenant's configuration.

A provider takes a recipient (E.164), a text and an idempotency key (the outbox message's id) and
returns the provider's own message id, or raises ``DeliveryError`` (the message then stays pending
and is tried again later; ``permanent`` when trying again cannot help, a refused number say).

Adapters:

- ``brevo`` — Brevo's transactional SMS API (``POST https://api.brevo.com/v3/transactionalSMS/send``,
  header ``api-key``; JSON ``sender``, ``recipient``, ``content``, ``type``, ``tag``). Brevo takes
  no idempotency key: the outbox id travels as the ``tag`` so that a delivery can be traced, and a
  message is sent again only if the platform never learnt that the first try succeeded.
- ``webhook`` — a generic JSON web hook, for any provider (or a small relay in front of it), SMS
  or voice: ``POST <endpoint>`` with ``Authorization: Bearer <api key>``, ``Idempotency-Key:
  <outbox id>`` and ``{"channel", "to", "text", "sender", "account", "language"}``; any 2xx answer
  is a success and its JSON ``id`` (or ``message_id``) the provider's id. A provider that honours
  the idempotency key never sends twice, whatever happens on our side.
- ``development`` — used when a tenant configured nothing, outside production: the message is
  only kept in the outbox and shown on the development outbox page (``/dev/courriels``).

Each tenant's choice lives in its ``settings`` table (``notifications.sms``,
``notifications.voice``), API key sealed with a key derived from BIPPOP_SECRET_KEY; ``bippop
tenants sms`` writes it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bippop import sealing
from bippop.accounts.models import Setting
from bippop.config import Settings

CHANNELS = ("sms", "voice")
PROVIDERS = ("brevo", "webhook")
BREVO_SMS_URL = "https://api.brevo.com/v3/transactionalSMS/send"
SEAL_PURPOSE = "notifications-api-key"
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "BipPop/1 (+https://bippop.fr)"


class DeliveryError(RuntimeError):
    """The server or provider refused, or could not be reached; the message stays pending unless
    ``permanent`` (trying again cannot help)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message[:300])
        self.permanent = permanent


class SmsProvider(Protocol):
    name: str

    def send(self, to: str, text: str, idempotency_key: str, *, language: str = "fr") -> str:
        """Send ``text`` to ``to`` (E.164); returns the provider's message id."""
        ...


class VoiceProvider(Protocol):
    name: str

    def send(self, to: str, text: str, idempotency_key: str, *, language: str = "fr") -> str:
        """Call ``to`` (E.164) and read ``text`` aloud in ``language``; returns the provider's id."""
        ...


# Phone numbers ---------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s.\-()/]")


def to_e164(phone: str | None, default_country: str = "33") -> str | None:
    """``06 12 34 56 78``, ``+33 6 12…``, ``0033 6…`` → ``+33612345678``; None when it cannot be a number."""
    if not phone:
        return None
    raw = _SEPARATORS.sub("", phone.strip())
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("+"):
        digits = raw[1:]
        if digits.startswith("330"):  # "+33 (0)6…"
            digits = "33" + digits[3:]
    elif raw.startswith("0") and len(raw) == 10:
        digits = default_country + raw[1:]
    else:
        return None
    if not digits.isdigit() or not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


def is_mobile(e164: str) -> bool:
    """Can receive a text message: French mobiles are +336 and +337; other countries are trusted."""
    if e164.startswith("+33"):
        return e164[3:4] in ("6", "7")
    return True


# Text messages -----------------------------------------------------------------------------

# GSM 03.38: the basic alphabet (one septet each) and its extension table (two septets each). A text
# made only of these fits 160 characters in one message; one other character makes it 70.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€")
_FOLD = {
    "ç": "c",
    "œ": "oe",
    "Œ": "OE",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "’": "'",
    "‘": "'",
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
}


def is_gsm7(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENDED for c in text)


def septets(text: str) -> int:
    """Length of ``text`` in a GSM-7 message (extension characters count twice)."""
    return sum(2 if c in GSM_EXTENDED else 1 for c in text)


def to_gsm7(text: str) -> str:
    """``text`` in the GSM alphabet: French accents it lacks lose their accent (ê → e), typographic
    quotes and spaces become plain ones, anything else unknown becomes ``?``."""
    import unicodedata

    out = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENDED:
            out.append(char)
        elif char in _FOLD:
            out.append(_FOLD[char])
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(plain if plain and all(c in GSM_BASIC for c in plain) else "?")
    return "".join(out)


# Configuration ----------------------------------------------------------------------------


def setting_key(channel: str) -> str:
    return f"notifications.{channel}"


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_endpoint(url: str) -> str:
    """HTTPS only; plain HTTP towards this machine alone (tests, a local relay)."""
    url = url.strip()
    parts = urlsplit(url)
    if not parts.hostname or not (
        parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))
    ):
        raise ValueError("l'adresse du fournisseur doit commencer par https://")
    return url


BREVO_SENDER = re.compile(r"^(?:[A-Za-z0-9 ]{3,11}|\+?[0-9]{3,15})$")


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One tenant's provider for one channel, as stored (the API key stays sealed)."""

    channel: str
    provider: str
    endpoint: str
    sender: str
    sealed_key: str
    account: str | None = None
    enabled: bool = True

    def api_key(self, secret_key: str) -> str:
        try:
            return sealing.unseal(self.sealed_key, secret_key, purpose=SEAL_PURPOSE)
        except sealing.SealError:
            raise DeliveryError(f"{self.provider}: API key unreadable (BIPPOP_SECRET_KEY changed?)") from None

    def as_value(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "endpoint": self.endpoint,
            "account": self.account,
            "sender": self.sender,
            "api_key": self.sealed_key,
            "enabled": self.enabled,
        }

    @classmethod
    def from_value(cls, channel: str, value: Any) -> ProviderConfig | None:
        if not isinstance(value, dict):
            return None
        provider, endpoint, sender, sealed = (
            value.get("provider"),
            value.get("endpoint"),
            value.get("sender"),
            value.get("api_key"),
        )
        if provider not in PROVIDERS or not all(isinstance(v, str) for v in (endpoint, sender, sealed)):
            return None
        account = value.get("account")
        return cls(
            channel=channel,
            provider=str(provider),
            endpoint=str(endpoint),
            sender=str(sender),
            sealed_key=str(sealed),
            account=str(account) if isinstance(account, str) and account else None,
            enabled=value.get("enabled") is not False,
        )


def load_config(session: Session, channel: str) -> ProviderConfig | None:
    """The tenant's enabled provider for ``channel`` (``sms`` or ``voice``), or None."""
    value = session.scalar(select(Setting.value).where(Setting.key == setting_key(channel)))
    config = ProviderConfig.from_value(channel, value)
    return config if config is not None and config.enabled else None


def write_config(
    session: Session,
    *,
    channel: str,
    provider: str,
    api_key: str,
    secret_key: str,
    sender: str,
    endpoint: str | None = None,
    account: str | None = None,
) -> ProviderConfig:
    """Record (and enable) a provider for the tenant of ``session`` (scoped, synchronous)."""
    if channel not in CHANNELS:
        raise ValueError(f"canal inconnu : {channel}")
    if provider not in PROVIDERS:
        raise ValueError(f"fournisseur inconnu : {provider}")
    if provider == "brevo":
        if channel != "sms":
            raise ValueError("Brevo n'envoie que des SMS ; pour les appels, utilisez --provider webhook")
        if not BREVO_SENDER.fullmatch(sender):
            raise ValueError(
                "l'expéditeur Brevo fait 3 à 11 lettres ou chiffres (ou un numéro de 15 chiffres au plus)"
            )
        endpoint = endpoint or BREVO_SMS_URL
    if not endpoint:
        raise ValueError("--endpoint est obligatoire pour ce fournisseur")
    if not api_key:
        raise ValueError("la clé d'API est vide")
    config = ProviderConfig(
        channel=channel,
        provider=provider,
        endpoint=check_endpoint(endpoint),
        sender=sender.strip(),
        sealed_key=sealing.seal(api_key, secret_key, purpose=SEAL_PURPOSE),
        account=(account or "").strip() or None,
    )
    session.merge(Setting(key=setting_key(channel), value=config.as_value()))
    return config


def remove_config(session: Session, channel: str) -> bool:
    """Forget the tenant's provider for ``channel``; False when there was none."""
    row = session.get(Setting, setting_key(channel))
    if row is None:
        return False
    session.delete(row)
    return True


# Adapters ---------------------------------------------------------------------------------


class DevelopmentProvider:
    """Nothing leaves the machine: the message stays readable in the outbox (development outbox page)."""

    name = "development"

    def send(self, to: str, text: str, idempotency_key: str, *, language: str = "fr") -> str:
        return f"dev-{idempotency_key}"


def _post(url: str, *, headers: dict[str, str], payload: dict[str, Any], provider: str) -> httpx.Response:
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            response = client.post(url, json=payload, headers={"User-Agent": USER_AGENT, **headers})
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{provider}: {type(exc).__name__}") from exc
    if response.is_success:
        return response
    # A refused request (bad number, malformed text) will be refused again; anything else may pass later:
    # the provider down or overloaded (5xx, 429), credits exhausted (402), a key being fixed (401, 403).
    permanent = response.status_code in (400, 404, 413, 422)
    raise DeliveryError(f"{provider}: HTTP {response.status_code}", permanent=permanent)


def _json_id(response: httpx.Response, *keys: str) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in keys:
            if data.get(key) not in (None, ""):
                return str(data[key])
    return None


class BrevoSmsProvider:
    name = "brevo"

    def __init__(self, *, api_key: str, sender: str, endpoint: str = BREVO_SMS_URL) -> None:
        self.api_key = api_key
        self.sender = sender
        self.endpoint = endpoint

    def send(self, to: str, text: str, idempotency_key: str, *, language: str = "fr") -> str:
        payload = {
            "type": "transactional",
            "sender": self.sender,
            "recipient": to.lstrip("+"),  # Brevo wants the country code without "+"
            "content": text,
            "tag": f"bippop-{idempotency_key}",
            "unicodeEnabled": not is_gsm7(text),
        }
        response = _post(
            self.endpoint,
            headers={"api-key": self.api_key, "Accept": "application/json"},
            payload=payload,
            provider=self.name,
        )
        return _json_id(response, "messageId", "reference") or idempotency_key


class WebhookProvider:
    """SMS or voice through any JSON endpoint that takes the documented payload (see module docstring)."""

    name = "webhook"

    def __init__(
        self, *, channel: str, api_key: str, endpoint: str, sender: str, account: str | None = None
    ) -> None:
        self.channel = channel
        self.api_key = api_key
        self.endpoint = endpoint
        self.sender = sender
        self.account = account

    def send(self, to: str, text: str, idempotency_key: str, *, language: str = "fr") -> str:
        payload = {
            "channel": self.channel,
            "to": to,
            "text": text,
            "sender": self.sender,
            "account": self.account,
            "language": language,
            "reference": idempotency_key,
        }
        response = _post(
            self.endpoint,
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Idempotency-Key": idempotency_key,
                "Accept": "application/json",
            },
            payload=payload,
            provider=self.name,
        )
        return _json_id(response, "id", "message_id", "messageId") or idempotency_key


def provider_for(session: Session, settings: Settings, channel: str) -> SmsProvider | VoiceProvider | None:
    """The provider that delivers ``channel`` for the tenant of ``session``: its configured one, the
    development one when none is configured outside production, None in production without one."""
    config = load_config(session, channel)
    if config is None:
        return None if settings.env == "production" else DevelopmentProvider()
    api_key = config.api_key(settings.effective_secret_key())
    if config.provider == "brevo":
        return BrevoSmsProvider(api_key=api_key, sender=config.sender, endpoint=config.endpoint)
    return WebhookProvider(
        channel=channel,
        api_key=api_key,
        endpoint=config.endpoint,
        sender=config.sender,
        account=config.account,
    )


def channel_available(session: Session, settings: Settings, channel: str) -> bool:
    """Whether ``channel`` can be used at all for this tenant (dispatch falls back to the next one)."""
    return settings.env != "production" or load_config(session, channel) is not None
