from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import pytest

from gateway.errors import ConfigurationError, PolicyUnavailable
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.unittest import Coverage, run_policy_tests
from gateway.settings import bundled_policy_dir
from gateway.testing import sample_policy_input


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(bundled_policy_dir(), target)
    return target


@pytest.mark.parametrize("engine", ["embedded", "opa"])
def test_shipped_policy_tests_all_pass(engine: Literal["embedded", "opa"]) -> None:
    outcomes = run_policy_tests(load_policy_set(bundled_policy_dir()), engine)
    assert len(outcomes) >= 35
    assert [o.name for o in outcomes if not o.passed] == []


def test_opa_reports_coverage_of_the_policy() -> None:
    policy = load_policy_set(bundled_policy_dir())
    coverage = Coverage()
    run_policy_tests(policy, "opa", coverage)
    assert coverage.percent("sharing.rego") > 90
    # A rule no test reaches is named (the entrypoint rules: tests call the functions behind
    # them, decide() and explain(), directly).
    unreached = coverage.unreached_rules("sharing.rego", policy.modules["sharing.rego"])
    assert unreached == ["decision", "explanation"]


def test_a_weakened_policy_fails_its_tests(policy_copy: Path) -> None:
    # Mutation: drop the geheim rule. The unit tests must notice.
    rego = policy_copy / "sharing.rego"
    text = rego.read_text()
    weakened = text.replace(
        'offered[f].sensitivity == "geheim"', 'offered[f].sensitivity == "nooit"'
    ).replace('{"gewoon", "bijzonder", "strafrechtelijk"}', '{"gewoon", "bijzonder", "geheim"}')
    assert weakened.count("nooit") == 1 and weakened.count('"bijzonder", "geheim"') == 1
    rego.write_text(weakened)
    for engine in ("embedded", "opa"):
        outcomes = run_policy_tests(load_policy_set(policy_copy), engine)  # type: ignore[arg-type]
        failed = {o.name for o in outcomes if not o.passed}
        assert "test_geheim_never_released_even_if_the_matrix_lists_it" in failed


def test_a_broken_test_counts_as_failure(policy_copy: Path) -> None:
    (policy_copy / "extra_test.rego").write_text(
        "package extra_test\nimport rego.v1\ntest_undefined if { data.nothing.here }\n"
    )
    outcomes = {o.name: o for o in run_policy_tests(load_policy_set(policy_copy))}
    assert outcomes["test_undefined"].passed is False
    assert outcomes["test_undefined"].detail == "undefined"


def test_version_changes_with_any_edit(policy_copy: Path) -> None:
    before = load_policy_set(policy_copy).version
    necessity = policy_copy / "catalog" / "necessity.yaml"
    necessity.write_text(necessity.read_text() + "\n# a comment\n")
    assert load_policy_set(policy_copy).version != before


def test_uncompilable_policy_is_policy_unavailable(policy_copy: Path) -> None:
    (policy_copy / "sharing.rego").write_text("package sharing\nthis is not rego\n")
    with pytest.raises(PolicyUnavailable):
        EmbeddedEngine(load_policy_set(policy_copy))


def test_missing_policy_is_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_policy_set(tmp_path)


def test_engine_returns_documented_shape() -> None:
    engine = EmbeddedEngine(load_policy_set(bundled_policy_dir()))
    assert engine.evaluate({})["reasons"] == ["policy_undefined"]
    decision = engine.evaluate(sample_policy_input("gemeente.brp", minor=True, relation="kind"))
    assert set(decision) == {"allow", "source", "reasons", "fields", "withheld", "obligations"}
    assert decision["allow"] is True and decision["fields"]["naam"]["basis"] == "avg_6_1_e_wmo"
