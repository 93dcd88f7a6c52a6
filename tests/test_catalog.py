"""Conformance of the policy catalogue: every reference resolves, every transform fits its field."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.catalog import Catalog
from gateway.errors import ConfigurationError
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


# -- the catalogue is validated whenever a policy set is loaded ------------------------------


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(bundled_policy_dir(), target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "named"),
    [
        # A typo in a sensitivity would have made the Python safety net treat the field as
        # releasable; it is an error now (and the policy treats unknown values as geheim).
        (
            "sources.yaml",
            "processen_verbaal: {sensitivity: geheim",
            "processen_verbaal: {sensitivity: Geheim",
            "sources/politie.incidenten/fields/processen_verbaal/sensitivity",
        ),
        (
            "sources.yaml",
            "naam: {sensitivity: gewoon, type: string}",
            "naam: {type: string}",
            "naam",
        ),
        (
            "necessity.yaml",
            "om.strafzaken: {lopende_zaak: exists, status: plain, contactverbod",
            "om.strafzaken: {lopende_zaak: exists, status: plian, contactverbod",
            "necessity/mda_plus_plus/casusoverleg/procesregisseur/om.strafzaken/status",
        ),
        (
            "necessity.yaml",
            "domeinen: plain, contactpersoon: contact}",
            "domeinen: plain, gespreksverslagen: plain, contactpersoon: contact}",
            "a geheim field in the matrix",
        ),
        ("purposes.yaml", "law: wpg\n", "law: wmo\n", "needs a Wpg or Wjsg basis"),
        ("purposes.yaml", "retention_years: 5\n", "retention_years: vijf\n", "retention_years"),
        ("signals.yaml", "    kept_for: P5Y\n", "    kept_for: P1Y11M\n", "kept_for is shorter"),
        ("signals.yaml", "    active_for: P2Y\n", "    active_for: P\n", "at least a day"),
        ("signals.yaml", "    active_for: P2Y\n", "    active_for: 2 jaar\n", "active_for"),
        ("signals.yaml", "match_on: [schulden, overlast]", "match_on: [schuld]", "unknown area"),
        (
            "signals.yaml",
            "roles: [woonconsulent]",
            "roles: [wijkagent]",
            "wijkagent is not a role of this org type",
        ),
    ],
)
def test_a_catalogue_mistake_is_refused_with_its_place(
    policy_copy: Path, file: str, old: str, new: str, named: str
) -> None:
    _edit(policy_copy / "catalog" / file, old, new)
    with pytest.raises(ConfigurationError) as info:
        load_policy_set(policy_copy)
    assert named in str(info.value)


def test_an_instances_own_policies_are_validated_before_the_gateway_starts(tmp_path: Path) -> None:
    from gateway.testing import make_test_gateway

    shutil.copytree(bundled_policy_dir(), tmp_path / "policies")
    _edit(
        tmp_path / "policies" / "catalog" / "sources.yaml",
        "diagnose: {sensitivity: geheim",
        "diagnose: {sensitivity: medisch",
    )
    with pytest.raises(ConfigurationError, match="diagnose"):
        make_test_gateway(tmp_path)


def test_every_matrix_cell_carries_a_necessity_reason_or_the_catalogue_is_refused(
    policy_copy: Path,
) -> None:
    for purpose, _stage, role, source, field, _transform in matrix_cells():
        assert CAT.necessity_reason(purpose, role, source, field), (purpose, role, field)
    # The crisis contact has its own, more specific reason.
    specific = CAT.necessity_reason(
        "wvggz_verkennend_onderzoek",
        "meldpunt_medewerker",
        "ggz.behandeling",
        "crisiskaart_contact",
    )
    assert specific is not None and "crisiskaart" in specific
    reasons = policy_copy / "catalog" / "necessity_reasons.yaml"
    text = reasons.read_text()
    _edit(
        reasons,
        '    wijkagent:\n      "*": >-\n        De wijkagent handhaaft',
        "    wijkagent:\n      gemeente.brp.naam: >-\n        De wijkagent handhaaft",
    )
    with pytest.raises(
        ConfigurationError, match="necessity_reasons/mda_plus_plus/wijkagent: no reason for"
    ):
        load_policy_set(policy_copy)
    reasons.write_text(
        text.replace(
            'wijkagent:\n      "*"',
            "wijkagent:\n      ggz.behandeling.diagnose: >-\n"
            '        Nergens voor nodig, een verzonnen reden.\n      "*"',
            1,
        )
    )
    with pytest.raises(ConfigurationError, match="no such cell"):
        load_policy_set(policy_copy)


def test_periods_are_counted_on_the_calendar() -> None:
    from datetime import UTC, datetime

    from gateway.clock import add_period

    leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert add_period(leap, "P1Y") == datetime(2029, 2, 28, 12, tzinfo=UTC)
    assert add_period(leap, "P1M2D") == datetime(2028, 3, 31, 12, tzinfo=UTC)
    assert add_period(datetime(2026, 11, 30, tzinfo=UTC), "P3M") == datetime(
        2027, 2, 28, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="not a period"):
        add_period(leap, "P")
