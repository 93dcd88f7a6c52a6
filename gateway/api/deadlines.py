"""Deadlines for a request's head and body: a client that sends slowly does not keep a
connection.

uvicorn closes a keep-alive connection that sits idle between requests, but not one that has
sent part of a request's head: a client that opens connections and sends a header line now and
then ("slowloris") keeps each one, and with them the server's file descriptors, for as long as it
likes (measured: 1,500 such connections, none closed after 22 s). :class:`HeadDeadline` is
uvicorn's httptools protocol with one timer more: from the moment a connection opens or a
request's first byte arrives until its head is complete. The body has its own deadline
(``GATEWAY_REQUEST_BODY_SECONDS``), in the Guard that reads it (gateway/api/middleware.py),
answered with 408.

The same protocol answers a request the HTTP parser refuses (a request line that is not HTTP,
a Content-Length beside Transfer-Encoding, an upgrade it does not speak) with a problem+json
400 like every other refusal, where uvicorn writes text/plain: nothing of the request is in it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.api.problems import PROBLEM_JSON, TYPE_BASE
from gateway.errors import InvalidRequest, Problem

_UNPARSED = InvalidRequest(
    [Problem("/", "not an HTTP/1.1 request this server reads")],
    detail="the request could not be read as HTTP/1.1",
)
_UNPARSED_BODY = json.dumps(
    {
        "type": TYPE_BASE + _UNPARSED.slug,
        "title": _UNPARSED.title,
        "status": 400,
        "detail": _UNPARSED.detail,
        **_UNPARSED.extra,
    }
).encode("ascii")
"""One fixed answer: the parser's own message is not passed on (it may quote the request)."""


class HeadDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request head is not complete
    within :attr:`seconds` of the connection's opening or the request's first byte."""

    seconds = 10.0
    """``GATEWAY_REQUEST_HEAD_SECONDS``: set by the serving process (and each worker) from its
    settings before the first connection (:func:`use_head_deadline`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what its parser refuses, as problem+json (and the connection
        closed, as uvicorn does: the stream can no longer be read)."""
        del msg  # logged by uvicorn; never sent
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: " + PROBLEM_JSON.encode("ascii") + b"\r\n",
                b"content-length: " + str(len(_UNPARSED_BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                _UNPARSED_BODY,
            ]
        )
        self.transport.write(b"".join(head))
        self.transport.close()

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def use_head_deadline(seconds: float) -> str:
    """Set the head deadline of this process's connections; returns uvicorn's ``http=`` value
    (an import path: a worker process imports the class itself)."""
    HeadDeadline.seconds = seconds
    return f"{__name__}:HeadDeadline"
