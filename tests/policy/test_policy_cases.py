"""Policy test cases written as data (policies/tests/*.yaml), run on both engines."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import pytest

from gateway.errors import ConfigurationError
from gateway.policy.bundle import load_policy_set
from gateway.policy.unittest import run_policy_tests
from gateway.settings import bundled_policy_dir

WRONG = """
- name: Veilig Thuis would get the whole household list
  request: {purpose: mda_plus_plus, stage: casusoverleg, role: veilig_thuis_medewerker,
            source: gemeente.brp}
  expect:
    released: {huishouden: plain}
    withheld: {naam: not_necessary}
"""


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    shutil.copytree(bundled_policy_dir(), tmp_path / "policies")
    return tmp_path / "policies"


@pytest.mark.parametrize("engine", ["embedded", "opa"])
def test_the_shipped_cases_pass_and_a_wrong_expectation_fails(
    policy_copy: Path, engine: Literal["embedded", "opa"]
) -> None:
    shipped = [
        o
        for o in run_policy_tests(load_policy_set(policy_copy), engine)
        if o.module.startswith("tests/")
    ]
    assert len(shipped) >= 9 and all(o.passed for o in shipped)
    (policy_copy / "tests" / "wrong.yaml").write_text(WRONG)
    [wrong] = [
        o
        for o in run_policy_tests(load_policy_set(policy_copy), engine)
        if o.module == "tests/wrong.yaml"
    ]
    assert not wrong.passed
    assert "released" in wrong.detail and "naam withheld as None" in wrong.detail


def test_a_malformed_case_file_is_reported_with_its_place(policy_copy: Path) -> None:
    (policy_copy / "tests" / "bad.yaml").write_text(
        "- name: x\n  request: {purpose: huisverbod, stage: morgen, role: wijkagent, "
        "source: gemeente.brp}\n  expect: {}\n"
    )
    with pytest.raises(ConfigurationError, match=r"tests/bad.yaml\[0\]/request/stage"):
        run_policy_tests(load_policy_set(policy_copy), "embedded")
