"""The address a request comes from, the one thing rate limits, caps and the audit log count by.

``X-Forwarded-For`` is believed only from the proxies named in ``BIPPOP_TRUSTED_PROXIES``:
``bippop web`` gives that list to uvicorn's proxy-headers middleware, which then puts the
forwarded client in the connection's scope; from anyone else the header changes nothing and
the connection's own peer address counts.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection

UNKNOWN = "unknown"


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The client's address: the peer, or the client a trusted proxy forwarded for."""
    client = connection.scope.get("client")
    return client[0] if client else None


def address_group(address: str | None) -> str:
    """What counts as one address: an IPv4 address, or a whole IPv6 /64 (one client owns it)."""
    if not address:
        return UNKNOWN
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return UNKNOWN
    if ip.version == 6:
        if ip.ipv4_mapped is not None:  # a dual-stack socket's spelling of an IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
