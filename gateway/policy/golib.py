"""Real OPA in process: OPA's Go evaluator as a shared library (the ``opa-golib-python-bindings``
wheel), for proving the policies on OPA where no OPA binary can be installed.

It is what the tests, ``gateway policy test --engine opa`` and the local OPA server
(:mod:`gateway.policy.opa_server`) evaluate with. Installed by the test set-up (its wheel claims
Python >= 3.14 but runs on 3.11; scripts/install-opa). One OPA engine per thread: an engine
serialises its own evaluations.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigurationError, EngineError, PolicyUnavailable
from gateway.policy.bundle import ENTRYPOINT, EXPLANATION, SIGNAL_ENTRYPOINT, PolicySet


def _bindings() -> Any:
    try:
        import opa_bindings
    except ImportError:
        raise ConfigurationError(
            "OPA's evaluator is not installed here: run scripts/install-opa (the test set-up "
            "does), or use the embedded engine"
        ) from None
    return opa_bindings


def opa_engine(policy: PolicySet, *, with_tests: bool = False) -> Any:
    """A loaded ``opa_bindings.OpaEngine`` (policies, data and, optionally, the tests)."""
    bindings = _bindings()
    engine = bindings.OpaEngine()
    try:
        engine.add_data(policy.data)
        for name, source in {**policy.modules, **(policy.tests if with_tests else {})}.items():
            engine.add_policy(name, source)
    except bindings.OpaError as exc:
        engine.close()
        raise PolicyUnavailable(f"policy set does not compile on OPA: {str(exc)[:500]}") from exc
    return engine


class GolibEngine:
    """The :class:`~gateway.policy.engine.PolicyEngine` on OPA's own evaluator."""

    def __init__(self, policy: PolicySet) -> None:
        self._policy = policy
        self._version = policy.version
        opa_engine(policy).close()  # compile once now: fail at start-up, not per thread
        self._local = threading.local()

    @property
    def version(self) -> str:
        return self._version

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        return self._run(policy_input, ENTRYPOINT)

    def explain(self, policy_input: Mapping[str, Any]) -> Any:
        return self._run(policy_input, EXPLANATION)

    def evaluate_signal(self, policy_input: Mapping[str, Any]) -> Any:
        return self._run(policy_input, SIGNAL_ENTRYPOINT)

    def _run(self, policy_input: Mapping[str, Any], entrypoint: str) -> Any:
        bindings = _bindings()
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = opa_engine(self._policy)
        try:
            return engine.eval_document(entrypoint.replace("/", "."), dict(policy_input))
        except bindings.OpaUndefinedError:
            return None
        except bindings.OpaError as exc:
            raise EngineError(str(exc)[:500]) from exc
