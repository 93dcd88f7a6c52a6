"""The connector interface: fetch a projection of one person's record from one source.

A connector is given only the fields the policy allowed and must ask its source for exactly
those — projection at the source, not a filter afterwards — so that data the decision did not
allow never even reaches the gateway's memory.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from gateway.errors import ConnectorError

__all__ = ["AsyncConnector", "Connector", "ConnectorError", "SubjectKey", "asynchronous"]


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


@runtime_checkable
class AsyncConnector(Protocol):
    """A connector that can also fetch without a thread (e.g. over an async HTTP client).

    The gateway prefers ``afetch`` where a connector offers it: a slow source then holds no
    thread, and a timeout cancels the call itself instead of abandoning a worker."""

    async def afetch(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        """The same contract as :meth:`Connector.fetch`."""
        ...


def asynchronous(connector: object) -> AsyncConnector | None:
    """``connector`` as an :class:`AsyncConnector`, if it offers a coroutine ``afetch``."""
    method = getattr(connector, "afetch", None)
    if method is not None and inspect.iscoroutinefunction(method):
        return connector  # type: ignore[return-value]
    return None
