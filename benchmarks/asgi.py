"""The smallest ASGI client: one request straight into the app, no HTTP client in between.

In-process measurements of the gateway's own time use this instead of httpx's ASGI transport,
whose client side (request building, response parsing, and a failed ``import trio`` on every
request) costs 1-2 ms of the same process's CPU — time a real client spends in its own process.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def post_json(
    app: Any, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON to ``path``; (status, the JSON answer)."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    done = asyncio.Event()
    delivered = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    done.set()
    return status, json.loads(b"".join(chunks) or b"null")
