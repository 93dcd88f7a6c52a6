"""An in-memory source for tests and benchmarks (a fake that ships with the code).

It records every projection it was asked for, so tests can check that the gateway asked only
for allowed fields, and it can be told to fail or to stall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.interface import ConnectorError, SubjectKey, WouldWait


class InMemoryConnector:
    def __init__(
        self,
        source: str,
        records: Mapping[str, Mapping[str, Any]],
        *,
        fail: bool = False,
        delay_seconds: float = 0.0,
        local: bool = True,
    ) -> None:
        """``local=False``: offer no local path, so the gateway fetches on the source's lane
        (as it does for a source on the network)."""
        self._source = source
        self._local = local
        self._records = {bsn: dict(rec) for bsn, rec in records.items()}
        self.fail = fail
        self.delay_seconds = delay_seconds
        self.projections: list[tuple[str, ...]] = []

    @property
    def source(self) -> str:
        return self._source

    @property
    def records(self) -> Mapping[str, Mapping[str, Any]]:
        """The records it holds, by BSN (to make another fake with the same data)."""
        return self._records

    def fetch(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        self.projections.append(tuple(fields))
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        return self._answer(subject, fields)

    @property
    def is_local(self) -> bool:
        return self._local

    def fetch_local(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        """The local path: a lookup in this process's memory — unless told to stall, which
        would hold the event loop; then the gateway fetches it on the source's lane."""
        if self.delay_seconds:
            raise WouldWait(self._source)
        self.projections.append(tuple(fields))
        return self._answer(subject, fields)

    def _answer(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        if self.fail:
            raise ConnectorError(f"{self._source} is unavailable (injected failure)")
        record = self._records.get(subject.digits)
        if record is None:
            return None
        return {f: record[f] for f in fields if f in record}


class AsyncInMemoryConnector(InMemoryConnector):
    """The same fake, offering the async path (``afetch``): its delay holds no thread."""

    async def afetch(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        self.projections.append(tuple(fields))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return self._answer(subject, fields)
