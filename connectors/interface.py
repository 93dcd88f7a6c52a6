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

__all__ = [
    "AsyncConnector",
    "Connector",
    "ConnectorError",
    "LocalConnector",
    "SubjectKey",
    "WouldWait",
    "asynchronous",
    "local",
]


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


class WouldWait(Exception):
    """A local fetch stopped because it would have had to wait (a locked file, a read that
    ran past its budget): nothing was answered, and the same fetch may run on the source's lane.
    Carries no message from the source (it could hold the subject's key)."""


@runtime_checkable
class LocalConnector(Protocol):
    """A connector whose source lives on this machine and answers without waiting — a lookup
    in memory or in a local file by an indexed key — so that the gateway can call it on the
    event loop itself: a thread hop costs more than such a read (docs/adr/0015-local-reads.md).

    ``fetch_local`` must never wait on anything outside this process (no network, no lock held
    by another, no sleep): where it would, it raises :class:`WouldWait` at once and the gateway
    runs :meth:`Connector.fetch` on the source's lane instead."""

    @property
    def is_local(self) -> bool:
        """Whether this connector, as configured, offers the local path (checked once, when
        the gateway starts)."""
        ...

    def fetch_local(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        """The same contract as :meth:`Connector.fetch`, or :class:`WouldWait`."""
        ...


def local(connector: object) -> LocalConnector | None:
    """``connector`` as a :class:`LocalConnector`, if it offers the local path."""
    if isinstance(connector, LocalConnector) and connector.is_local:
        return connector
    return None
