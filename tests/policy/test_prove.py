"""`gateway policy prove`: the invariants hold on the shipped policy over its whole input
space, and each defect of the policy as it was (kept as a fixture) is found."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.catalog import Catalog
from gateway.cli import app
from gateway.policy.bundle import load_policy_set
from gateway.policy.prove import INVARIANTS, opa_evaluator, prove
from gateway.policy.space import Point, fixed_members, points, size
from gateway.settings import bundled_policy_dir

SHIPPED = load_policy_set(bundled_policy_dir())
AS_IT_WAS = load_policy_set(Path(__file__).parent / "fixtures" / "issue7-start", validate=False)


def test_the_space_is_what_its_size_says_and_every_point_is_a_valid_input() -> None:
    catalog = Catalog(SHIPPED.catalog)
    fixed = fixed_members(SHIPPED.modules)
    assert fixed == {"relation": "hoofdpersoon"}  # the policy never reads the relation
    few = list(points(catalog, fixed, purposes={"huisverbod"}))
    assert len(few) == size(catalog, fixed, purposes={"huisverbod"})
    assert len(set(few)) == len(few)
    inp = few[0].policy_input()
    assert set(inp) == {"requester", "case", "subject", "request"}


def test_a_policy_that_reads_the_relation_gets_it_enumerated() -> None:
    modules = {"x.rego": 'package x\nkind if input.subject.relation == "kind"\n'}
    assert fixed_members(modules) == {}
    sneaky = {"x.rego": "package x\nn := count([v | some k, v in inp.subject])\n"}
    assert fixed_members(sneaky) == {}


def _fake(release: Mapping[str, Any]) -> Any:
    def evaluate(inputs: Sequence[Mapping[str, Any]]) -> list[Any]:
        return [{"allow": True, "fields": dict(release)} for _ in inputs]

    return evaluate


def test_the_checker_names_the_invariants_a_policy_breaks() -> None:
    """A policy that releases a geheim field to anyone, on a made-up basis, in plain form."""
    leak = {"processen_verbaal": {"transform": "plain", "basis": "verzonnen", "break_glass": False}}
    cert = prove(SHIPPED, _fake(leak), "fake", purposes={"huisverbod"})
    broken = {c.invariant for c in cert.counter_examples}
    assert {"no_geheim", "standing", "purpose_sources", "basis", "screening_transforms"} <= broken
    assert not cert.proved and cert.as_dict()["result"] == "counter-example"
    example = next(c for c in cert.counter_examples if c.invariant == "standing")
    assert example.point.standing != "member"
    assert example.request()["input"]["request"]["source"] == example.point.source


def test_a_policy_that_releases_nothing_proves() -> None:
    cert = prove(SHIPPED, _fake({}), "fake", purposes={"huisverbod"})
    assert cert.proved and set(cert.invariants) == set(INVARIANTS)


def test_a_policy_that_reads_more_than_the_space_holds_is_not_proved() -> None:
    """The space holds one case id and, of the participants and consents, one fact each: a
    policy that reads more of them could tell apart inputs the space never shows it."""
    cert = prove(SHIPPED, _fake({}), "fake", purposes={"huisverbod"})
    assert {"case.id", "case.participants, requester.oin", "subject.consents"} <= set(
        cert.reductions
    )
    extra = "package extra\n\nimport rego.v1\n\nbig if count(input.case.participants) > 9\n"
    reads_more = replace(SHIPPED, modules={**SHIPPED.modules, "extra.rego": extra})
    cert = prove(reads_more, _fake({}), "fake", purposes={"huisverbod"})
    assert not cert.proved and cert.as_dict()["result"] == "incomplete"
    assert [u.split(":")[0] for u in cert.unchecked] == ["case.participants, requester.oin"]
    assert "subject.consents" in cert.reductions  # the other facts still hold
    result = CliRunner().invoke(app, ["policy", "prove", "--help"])
    assert "incomplete" in result.stdout


@pytest.mark.slow
def test_the_defects_of_the_policy_as_it_was_are_found() -> None:
    """Issue 7's findings 2 and 3, before they were fixed: break-glass past the role's row
    (and consent then releasing less), monitoring beyond plan, screening beyond casusoverleg."""
    cert = prove(
        AS_IT_WAS,
        opa_evaluator(AS_IT_WAS),
        "opa",
        purposes={"huisverbod", "wvggz_verkennend_onderzoek"},
    )
    found = {c.invariant: c for c in cert.counter_examples}
    assert set(found) == {
        "break_glass",
        "consent_monotone",
        "monitoring_within_plan",
        "screening_within_casusoverleg",
    }
    glass = found["break_glass"].point
    assert glass.source == "ggz.behandeling" and glass.urgency == "spoed"


@pytest.mark.slow
def test_the_shipped_policy_proves_on_its_whole_input_space(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["policy", "prove", "--engine", "opa", "--json", "--home", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stdout[-2000:]
    certificate = json.loads(result.stdout)
    assert certificate["result"] == "proved"
    assert certificate["policy_version"] == SHIPPED.version
    assert certificate["input_space"] == size(Catalog(SHIPPED.catalog), {"relation": "x"})
    assert set(certificate["invariants"]) == set(INVARIANTS)


def test_points_compare_by_value() -> None:
    p = next(points(Catalog(SHIPPED.catalog), {"relation": "hoofdpersoon"}))
    assert p.but(consent=not p.consent).but(consent=p.consent) == p
    assert isinstance(p, Point)
