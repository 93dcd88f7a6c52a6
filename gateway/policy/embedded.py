"""The embedded engine: Microsoft's rego-cpp through ``regopy``, compiled once per policy set.

The policy is compiled into a bundle at start-up (``Interpreter.build``); each decision then only
sets the input term and runs the bundle's plan (docs/adr/0002-embedded-rego.md has the numbers).
A rego-cpp interpreter is not thread-safe, but the bundle is read-only and regopy releases the
GIL, so every policy-lane thread gets an interpreter of its own (measured: two threads ~1.5-1.9x
one). When the lane retires a thread whose evaluation overran, its interpreter goes with it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import regopy
from regopy.rego_shared import rego_get_error

from gateway.errors import EngineError, PolicyUnavailable
from gateway.policy.bundle import ENTRYPOINT, EXPLANATION, SIGNAL_ENTRYPOINT, PolicySet


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
        self._version = policy.version
        builder = new_interpreter(policy)
        # The explanation entrypoint is optional: a policy without one still decides.
        self._explains = "explanation :=" in "".join(policy.modules.values())
        self._signals = policy.has_signals
        entrypoints = [ENTRYPOINT, EXPLANATION] if self._explains else [ENTRYPOINT]
        if self._signals:
            entrypoints.append(SIGNAL_ENTRYPOINT)
        try:
            self._bundle = builder.build(None, entrypoints)
        except regopy.RegoError as exc:
            raise PolicyUnavailable(f"policy set does not build: {str(exc)[:500]}") from exc
        self._local = threading.local()

    @property
    def version(self) -> str:
        return self._version

    def _interpreter(self) -> regopy.Interpreter:
        interpreter: regopy.Interpreter | None = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = regopy.Interpreter()
        return interpreter

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        return self._run(policy_input, ENTRYPOINT)

    def explain(self, policy_input: Mapping[str, Any]) -> Any:
        """The policy's rule path for ``policy_input`` (None if the policy has none)."""
        return self._run(policy_input, EXPLANATION) if self._explains else None

    def evaluate_signal(self, policy_input: Mapping[str, Any]) -> Any:
        """``data.signals.decision`` (None — a denial — if the policy has no signals module)."""
        return self._run(policy_input, SIGNAL_ENTRYPOINT) if self._signals else None

    def _run(self, policy_input: Mapping[str, Any], entrypoint: str) -> Any:
        term = json.dumps(policy_input, separators=(",", ":"))
        interpreter = self._interpreter()
        try:
            interpreter.set_input_term(term)
            output = interpreter.query_bundle_entrypoint(self._bundle, entrypoint)
        except regopy.RegoError as exc:
            raise EngineError(str(exc)[:500]) from exc
        if not output.ok():
            raise EngineError(_error_text(interpreter)[:500])
        if not output.results or not output.results[0].expressions:
            return None
        return output.results[0].expressions[0]
