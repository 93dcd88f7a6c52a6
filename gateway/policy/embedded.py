"""The embedded engine: Microsoft's rego-cpp through ``regopy``, compiled once per policy set.

The policy is compiled into a bundle at start-up (``Interpreter.build``); each decision then
only sets the input term and runs the bundle's plan (see docs/adr/0002-embedded-rego.md for
the measurements). rego-cpp's interpreter is not thread-safe, so calls are serialised by a lock;
decisions are a few milliseconds, well below connector latency.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import regopy
from regopy.rego_shared import rego_get_error

from gateway.errors import PolicyUnavailable
from gateway.policy.bundle import ENTRYPOINT, PolicySet
from gateway.policy.engine import EngineError


def _error_text(interpreter: regopy.Interpreter) -> str:
    # NOTE: never str() a failed regopy Output: rego-cpp 1.5.2 dereferences a null node and
    # crashes the process. The interpreter keeps the last error text instead.
    return str(rego_get_error(interpreter._impl)).strip()


def new_interpreter(policy: PolicySet, *, with_tests: bool = False) -> regopy.Interpreter:
    interpreter = regopy.Interpreter()
    try:
        interpreter.add_data(policy.data)
        modules = {**policy.modules, **(policy.tests if with_tests else {})}
        for name, source in modules.items():
            interpreter.add_module(name, source)
    except regopy.RegoError as exc:
        raise PolicyUnavailable(f"policy set does not compile: {str(exc)[:500]}") from exc
    return interpreter


class EmbeddedEngine:
    def __init__(self, policy: PolicySet) -> None:
        self._policy = policy
        builder = new_interpreter(policy)
        try:
            self._bundle = builder.build(None, [ENTRYPOINT])
        except regopy.RegoError as exc:
            raise PolicyUnavailable(f"policy set does not build: {str(exc)[:500]}") from exc
        self._interpreter = regopy.Interpreter()
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self._policy.version

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        term = json.dumps(policy_input, separators=(",", ":"))
        with self._lock:
            try:
                self._interpreter.set_input_term(term)
                output = self._interpreter.query_bundle_entrypoint(self._bundle, ENTRYPOINT)
            except regopy.RegoError as exc:
                raise EngineError(str(exc)[:500]) from exc
            if not output.ok():
                raise EngineError(_error_text(self._interpreter)[:500])
            if not output.results or not output.results[0].expressions:
                return None
            return output.results[0].expressions[0]
