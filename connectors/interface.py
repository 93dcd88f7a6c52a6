"""The connector interface: fetch a projection of one person's record from one source.

A connector is given only the fields the policy allowed and must ask its source for exactly
those — projection at the source, not a filter afterwards — so that data the decision did not
allow never even reaches the gateway's memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.errors import ConnectorError

__all__ = ["Connector", "ConnectorError", "SubjectKey"]


class SubjectKey(Protocol):
    """What a connector gets to identify the person: the BSN, reachable only via ``.digits``."""

    @property
    def digits(self) -> str: ...


class Connector(Protocol):
    @property
    def source(self) -> str:
        """The catalogue id of the source, e.g. ``politie.incidenten``."""
        ...

    def fetch(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        """Return ``{field: value}`` for exactly ``fields``, or ``None`` if the source has no
        record of the person. Raise :class:`ConnectorError` on any failure."""
        ...
