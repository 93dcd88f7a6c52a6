"""Conformance of the policy catalogue: every reference resolves, every transform fits its field."""

from __future__ import annotations

from typing import Any

from gateway.catalog import Catalog
from gateway.policy.bundle import load_policy_set
from gateway.settings import bundled_policy_dir
from gateway.transforms import COMPATIBLE
from gateway.typing import STAGES

POLICY = load_policy_set(bundled_policy_dir())
CAT = Catalog(POLICY.catalog)
RAW: dict[str, Any] = dict(POLICY.catalog)


def matrix_cells() -> list[tuple[str, str, str, str, str, str]]:
    cells = []
    for purpose, stages in RAW["necessity"].items():
        for stage, roles in stages.items():
            for role, sources in roles.items():
                for source, fields in sources.items():
                    for field, transform in fields.items():
                        cells.append((purpose, stage, role, source, field, transform))
    return cells


def test_every_purpose_has_every_stage() -> None:
    assert set(RAW["necessity"]) == set(CAT.purposes)
    for purpose, stages in RAW["necessity"].items():
        assert tuple(stages) == STAGES, purpose
        assert stages["aanmelding"] == {} and stages["afgesloten"] == {}


def test_every_matrix_cell_is_well_formed() -> None:
    cells = matrix_cells()
    assert len(cells) > 1000
    problems = []
    for purpose, stage, role, source, field, transform in cells:
        where = f"{purpose}/{stage}/{role}/{source}/{field}"
        spec = CAT.fields(source).get(field)  # type: ignore[call-overload]
        if role not in CAT.roles:
            problems.append(f"{where}: unknown role")
        elif spec is None:
            problems.append(f"{where}: the source does not offer this field")
        elif spec.sensitivity == "geheim":
            problems.append(f"{where}: a geheim field in the matrix")
        elif transform not in COMPATIBLE[spec.type]:
            problems.append(f"{where}: {transform} does not fit a {spec.type}")
        elif transform == "band" and not spec.bands:
            problems.append(f"{where}: band without bands")
    assert problems == []


def test_content_stages_only_name_purpose_sources() -> None:
    for purpose, stages in RAW["necessity"].items():
        for stage in ("casusoverleg", "plan"):
            for role, sources in stages[stage].items():
                assert set(sources) <= set(CAT.purpose_sources(purpose)), (purpose, role)


def test_purposes_reference_known_things() -> None:
    for pid, purpose in CAT.purposes.items():
        assert set(purpose["participants"]) <= set(CAT.org_types), pid
        assert set(purpose["regisseur"]) <= set(purpose["participants"]), pid
        assert set(purpose["sources"]) <= set(CAT.sources), pid
        ids = [b["id"] for b in purpose["bases"]]
        assert len(ids) == len(set(ids)), pid
        for basis in purpose["bases"]:
            assert set(basis["sources"]) <= set(purpose["sources"]), (pid, basis["id"])
            assert set(basis["covers"]) <= {"gewoon", "bijzonder", "strafrechtelijk"}
            if "strafrechtelijk" in basis["covers"]:
                assert basis["law"] in {"wpg", "wjsg"}, (pid, basis["id"])
        for source, fields in purpose["break_glass"].items():
            assert CAT.requires_consent(source), "break-glass only replaces missing consent"
            for field, transform in fields.items():
                assert CAT.fields(source)[field].sensitivity == "bijzonder"
                assert transform == "contact", "the break-glass set stays narrow: who to call"


def test_children_scope_matches_domain() -> None:
    assert {p for p, v in CAT.purposes.items() if v["scope_includes_children"]} == {
        "mda_plus_plus",
        "zvh_casusoverleg",
    }


def test_roles_belong_to_known_org_types() -> None:
    for role in CAT.roles.values():
        assert set(role["org_types"]) <= set(CAT.org_types)


def test_ggz_is_the_consent_source_and_geheim_fields_are_as_in_domain() -> None:
    assert [s for s in CAT.sources if CAT.requires_consent(s)] == ["ggz.behandeling"]
    geheim = {
        (s, f)
        for s in CAT.sources
        for f, spec in CAT.fields(s).items()
        if spec.sensitivity == "geheim"
    }
    assert geheim == {
        ("gemeente.wijkteam", "gespreksverslagen"),
        ("politie.incidenten", "processen_verbaal"),
        ("ggz.behandeling", "diagnose"),
        ("ggz.behandeling", "medicatie"),
    }
