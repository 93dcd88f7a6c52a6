"""Failed-authentication throttling: a sliding window of failures per client id and per peer.

Checked *before* a secret is hashed, so a guessing client costs the gateway no scrypt work once
it is over its limit. Memory is bounded: at most ``max_keys`` keys are tracked (the oldest are
forgotten first), so random client ids cannot grow the table without limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from gateway.errors import RateLimited


class FailureWindow:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 if it may now."""
        with self._lock:
            times = self._prune(key)
            if times is None or len(times) < self._limit:
                return 0
            return max(1, math.ceil(times[0] + self._window - self._clock()))

    def failed(self, key: str) -> None:
        with self._lock:
            times = self._prune(key)
            if times is None:
                times = self._failures[key] = deque()
                while len(self._failures) > self._max_keys:
                    self._failures.popitem(last=False)
            times.append(self._clock())
            self._failures.move_to_end(key)

    def _prune(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock() - self._window
        while times and times[0] <= horizon:
            times.popleft()
        return times


class Throttle:
    """Limits per client id and per peer address, checked together."""

    def __init__(self, per_client: FailureWindow, per_peer: FailureWindow) -> None:
        self._client = per_client
        self._peer = per_peer

    def check(self, client_id: str | None, peer: str) -> None:
        wait = max(
            self._peer.retry_after(peer),
            self._client.retry_after(client_id) if client_id else 0,
        )
        if wait:
            raise RateLimited(wait)

    def failed(self, client_id: str | None, peer: str) -> None:
        self._peer.failed(peer)
        if client_id:
            self._client.failed(client_id)
