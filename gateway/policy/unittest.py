"""Runs the policy set's Rego unit tests (``*_test.rego``) on either engine.

Every rule named ``test_*`` in a test module is evaluated on its own; it passes only if it
evaluates to ``true``. Undefined, ``false`` or an evaluation error is a failure — a test that
cannot run is not a pass. On OPA the run also measures coverage: which lines of the policy
modules some test evaluated, and which rules no test reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import regopy

from gateway.policy.bundle import PolicySet
from gateway.policy.embedded import EmbeddedEngine, _error_text, new_interpreter

Engine = Literal["embedded", "opa"]
_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\s+if\b", re.MULTILINE)
_RULE_HEAD = re.compile(r"^([a-z_][\w]*)(?:\(|\s*:=|\s+if\b|\s+contains\b)", re.MULTILINE)


@dataclass(frozen=True)
class TestOutcome:
    module: str
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Coverage:
    """Lines of each policy module some test evaluated (OPA only)."""

    covered: dict[str, set[int]] = field(default_factory=dict)
    uncovered: dict[str, set[int]] = field(default_factory=dict)

    def add(self, report: dict[str, object] | None) -> None:
        files = (report or {}).get("files") or {}
        assert isinstance(files, dict)
        for name, spans in files.items():
            for kind, target in (("covered", self.covered), ("not_covered", self.uncovered)):
                rows = target.setdefault(name, set())
                for span in spans.get(kind) or []:
                    rows.update(range(span["start"]["row"], span["end"]["row"] + 1))

    def percent(self, module: str) -> float:
        covered = self.covered.get(module, set())
        missed = self.uncovered.get(module, set()) - covered
        total = len(covered) + len(missed)
        return 100.0 if total == 0 else 100.0 * len(covered) / total

    def unreached_rules(self, module: str, text: str) -> list[str]:
        """Rules none of whose lines any test evaluated."""
        lines = text.splitlines()
        starts = [
            (m.group(1), text.count("\n", 0, m.start()) + 1) for m in _RULE_HEAD.finditer(text)
        ]
        covered = self.covered.get(module, set())
        reached: dict[str, bool] = {}
        for i, (name, first) in enumerate(starts):
            last = starts[i + 1][1] - 1 if i + 1 < len(starts) else len(lines)
            hit = any(row in covered for row in range(first, last + 1))
            reached[name] = reached.get(name, False) or hit
        return sorted(name for name, hit in reached.items() if not hit)


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


def _detail(value: object) -> str:
    return "" if value is True else ("undefined" if value is None else f"evaluated to {value!r}")


def run_policy_tests(
    policy: PolicySet, engine: Engine = "embedded", coverage: Coverage | None = None
) -> list[TestOutcome]:
    """The Rego unit tests, then the test cases written as data (``tests/*.yaml``)."""
    rego = _run_on_opa(policy, coverage) if engine == "opa" else _run_embedded(policy)
    return rego + _run_cases(policy, engine)


def _run_cases(policy: PolicySet, engine: Engine) -> list[TestOutcome]:
    from gateway.catalog import Catalog
    from gateway.policy.cases import load_cases, run_cases

    if not policy.cases:
        return []
    catalog = Catalog(policy.catalog)
    cases = load_cases(policy.cases, catalog)
    if engine == "opa":
        from gateway.policy.golib import GolibEngine

        evaluator: EmbeddedEngine | GolibEngine = GolibEngine(policy)
    else:
        evaluator = EmbeddedEngine(policy)
    return [
        TestOutcome(file, name, not problem, problem)
        for file, name, problem in run_cases(cases, catalog, evaluator.evaluate)
    ]


def _run_embedded(policy: PolicySet) -> list[TestOutcome]:
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
        outcomes.append(TestOutcome(module, name, value is True, _detail(value)))
    return outcomes


def _run_on_opa(policy: PolicySet, coverage: Coverage | None) -> list[TestOutcome]:
    from gateway.policy.golib import _bindings, opa_engine

    bindings = _bindings()
    engine = opa_engine(policy, with_tests=True)
    outcomes: list[TestOutcome] = []
    try:
        for module, package, name in discover(policy):
            try:
                value = engine.eval_document(f"{package}.{name}", coverage=coverage is not None)
            except bindings.OpaUndefinedError:
                value = None
            except bindings.OpaError as exc:
                outcomes.append(TestOutcome(module, name, False, str(exc)[:300]))
                continue
            if coverage is not None:
                coverage.add(engine.last_coverage)
            outcomes.append(TestOutcome(module, name, value is True, _detail(value)))
    finally:
        engine.close()
    return outcomes
