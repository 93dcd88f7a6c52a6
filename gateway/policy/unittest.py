"""Runs the policy set's Rego unit tests (``*_test.rego``) on the embedded engine.

Every rule named ``test_*`` in a test module is queried on its own; it passes only if it
evaluates to ``true``. Undefined, ``false`` or an evaluation error is a failure — a test that
cannot run is not a pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import regopy

from gateway.policy.bundle import PolicySet
from gateway.policy.embedded import _error_text, new_interpreter

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\s+if\b", re.MULTILINE)


@dataclass(frozen=True)
class TestOutcome:
    module: str
    name: str
    passed: bool
    detail: str = ""


def discover(policy: PolicySet) -> Iterator[tuple[str, str, str]]:
    """Yield (module file, package, rule name) for every test rule, in file order."""
    for module, text in sorted(policy.tests.items()):
        package = _PACKAGE.search(text)
        if package is None:
            continue
        seen: set[str] = set()
        for match in _TEST_RULE.finditer(text):
            if match.group(1) not in seen:
                seen.add(match.group(1))
                yield module, package.group(1), match.group(1)


def _first_value(output: object) -> object:
    results = getattr(output, "results", [])
    if not results or not results[0].expressions:
        return None
    return results[0].expressions[0]


def run_policy_tests(policy: PolicySet) -> list[TestOutcome]:
    """Compile every test rule into one bundle (as the gateway compiles its entrypoint), then
    run each; if the bundle cannot be built, query test by test so the failure is named."""
    interpreter = new_interpreter(policy, with_tests=True)
    tests = list(discover(policy))
    try:
        bundle = interpreter.build(
            None, [f"{pkg.replace('.', '/')}/{name}" for _, pkg, name in tests]
        )
    except regopy.RegoError:
        bundle = None
    runner = regopy.Interpreter()
    outcomes: list[TestOutcome] = []
    for module, package, name in tests:
        if bundle is not None:
            output = runner.query_bundle_entrypoint(bundle, f"{package.replace('.', '/')}/{name}")
            failed_on = runner
        else:
            output = interpreter.query(f"data.{package}.{name}")
            failed_on = interpreter
        if not output.ok():
            outcomes.append(TestOutcome(module, name, False, _error_text(failed_on)[:300]))
            continue
        value = _first_value(output)
        passed = value is True
        detail = "" if passed else ("undefined" if value is None else f"evaluated to {value!r}")
        outcomes.append(TestOutcome(module, name, passed, detail))
    return outcomes
