"""Who is really on the other end of a connection, and over what.

The scheme and peer come from the connection itself (the ASGI scope), never from ``Host``.
``X-Forwarded-Proto`` and ``X-Forwarded-For`` are believed only when the immediate peer is a
configured trusted proxy; the server runs without uvicorn's own proxy-header handling so that
this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Transport:
    scheme: str
    peer: str

    @property
    def secure(self) -> bool:
        """TLS, or a loopback peer (a local agency application or a test)."""
        return self.scheme == "https" or _loopback(self.peer)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def transport_of(
    scope: Mapping[str, Any], headers: Mapping[str, str], trusted_proxies: frozenset[str]
) -> Transport:
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    scheme = str(scope.get("scheme", "http"))
    if peer and peer in trusted_proxies:
        proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scheme = proto
        # The nearest hop that is not one of our proxies is the client; entries further left
        # were written by whoever sent the request and prove nothing.
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in trusted_proxies:
                peer = hop
                break
    return Transport(scheme=scheme, peer=peer)
