"""A local server speaking the part of OPA's REST API that the sidecar engine uses, evaluating
with OPA's real Go evaluator (:mod:`gateway.policy.golib`): so the sidecar backend is tested
against real OPA evaluation without an OPA binary.

Served: ``PUT /v1/policies/<id>`` (Rego text; 400 with OPA's error shape if it does not
compile), ``PUT /v1/data/<path>`` and ``GET /v1/data/<path>`` (JSON documents),
``POST /v1/data/<path>`` (``{"input": …}`` → ``{"result": …}``, no ``result`` when undefined),
``GET /health``. Loopback only; for tests and local trials, not production.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self._engine: Any = None

    def engine(self) -> Any:
        from gateway.policy.golib import _bindings

        if self._engine is None:
            engine = _bindings().OpaEngine()
            engine.add_data(self.data)
            for name, source in self.policies.items():
                engine.add_policy(name, source)
            self._engine = engine
        return self._engine

    def changed(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine = None


def _path(raw: str, prefix: str) -> list[str]:
    return [p for p in raw.removeprefix(prefix).split("?")[0].split("/") if p]


class _Handler(BaseHTTPRequestHandler):
    server: LocalOpaServer

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: test output stays readable

    def _send(self, status: int, doc: Any = None) -> None:
        body = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        state = self.server.state
        if self.path.startswith("/health"):
            self._send(200, {})
        elif self.path.startswith("/v1/data"):
            node: Any = state.data
            for part in _path(self.path, "/v1/data"):
                node = node.get(part) if isinstance(node, dict) else None
            self._send(200, {} if node is None else {"result": node})
        else:
            self._send(404, {"code": "resource_not_found", "message": self.path})

    def do_PUT(self) -> None:
        from gateway.policy.golib import _bindings

        state = self.server.state
        body = self._body()
        with state.lock:
            if self.path.startswith("/v1/policies/"):
                name = "/".join(_path(self.path, "/v1/policies"))
                previous = state.policies.get(name)
                state.policies[name] = body.decode()
                state.changed()
                try:
                    state.engine()
                except _bindings().OpaError as exc:
                    if previous is None:
                        del state.policies[name]
                    else:
                        state.policies[name] = previous
                    state.changed()
                    self._send(400, {"code": "invalid_parameter", "message": str(exc)})
                    return
                self._send(200, {})
            elif self.path.startswith("/v1/data"):
                parts = _path(self.path, "/v1/data")
                node = state.data
                for part in parts[:-1]:
                    node = node.setdefault(part, {})
                node[parts[-1]] = json.loads(body)
                state.changed()
                self._send(204)
            else:
                self._send(404, {"code": "resource_not_found", "message": self.path})

    def do_POST(self) -> None:
        from gateway.policy.golib import _bindings

        bindings = _bindings()
        state = self.server.state
        if not self.path.startswith("/v1/data/"):
            self._send(404, {"code": "resource_not_found", "message": self.path})
            return
        document = ".".join(_path(self.path, "/v1/data"))
        try:
            doc = json.loads(self._body() or b"{}")
        except ValueError:
            self._send(400, {"code": "invalid_parameter", "message": "body is not JSON"})
            return
        with state.lock:
            try:
                result = state.engine().eval_document(document, doc.get("input"))
            except bindings.OpaUndefinedError:
                self._send(200, {})
                return
            except bindings.OpaError as exc:
                self._send(500, {"code": "internal_error", "message": str(exc)})
                return
        self._send(200, {"result": result})


class LocalOpaServer(ThreadingHTTPServer):
    """``with LocalOpaServer() as opa: … opa.url …`` — serves on a free loopback port."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = _State()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> LocalOpaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
