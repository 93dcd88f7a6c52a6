"""The sharing matrix (covenant annex) is exactly what the engine releases, cell by cell."""

from __future__ import annotations

from collections import defaultdict

from typer.testing import CliRunner

from gateway.catalog import Catalog
from gateway.cli import app
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.matrix import CONTENT_STAGES, cells
from gateway.policy.prove import released
from gateway.policy.space import Point
from gateway.settings import bundled_policy_dir

POLICY = load_policy_set(bundled_policy_dir())
CATALOG = Catalog(POLICY.catalog)


def test_every_cell_is_the_engines_decision_and_nothing_else_is_released() -> None:
    expected: dict[tuple[str, str, str, str], dict[str, tuple[str, str]]] = defaultdict(dict)
    for c in cells(CATALOG, POLICY.catalog):
        expected[(c.purpose, c.stage, c.role, c.source)][c.field] = (c.transform, c.basis)
    assert len(expected) > 300
    engine = EmbeddedEngine(POLICY)
    checked = 0
    for purpose in CATALOG.purposes:
        for stage in CONTENT_STAGES:
            for role, spec in CATALOG.roles.items():
                for source in CATALOG.sources:
                    point = Point(
                        purpose,
                        spec["org_types"][0],
                        role,
                        source,
                        stage,
                        minor=False,
                        consent=True,
                        urgency="regulier",
                        justified=False,
                        standing="member",
                    )
                    got = released(engine.evaluate(point.policy_input()))
                    decided = {f: (g[0], g[1]) for f, g in got.items()}
                    assert decided == expected.get((purpose, stage, role, source), {}), point
                    checked += 1
    assert checked == len(CATALOG.purposes) * len(CONTENT_STAGES) * len(CATALOG.roles) * len(
        CATALOG.sources
    )


def test_the_matrix_command_in_markdown_and_html() -> None:
    runner = CliRunner()
    md = runner.invoke(app, ["policy", "matrix"])
    assert md.exit_code == 0 and md.stdout.startswith("# Sharing matrix")
    assert POLICY.version in md.stdout
    assert (
        "| plan | veilig_thuis_medewerker (veilig_thuis) | gemeente.brp | huishouden | count"
        in (md.stdout)
    )
    assert "with the person's consent; without it only urgent and justified" in md.stdout
    page = runner.invoke(app, ["policy", "matrix", "--format", "html"])
    assert page.exit_code == 0 and page.stdout.startswith("<!doctype html>")
