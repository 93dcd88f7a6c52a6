"""The OPA sidecar backend (opa-python-client) against real OPA evaluation behind a local
server speaking OPA's REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.catalog import Catalog
from gateway.errors import PolicyUnavailable
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.opa_server import LocalOpaServer
from gateway.policy.sidecar import SidecarEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import demo_bsn, make_test_gateway, policy_inputs, sample_policy_input

POLICY = load_policy_set(bundled_policy_dir())
EMBEDDED = EmbeddedEngine(POLICY)


@pytest.fixture(scope="module")
def opa() -> Iterator[LocalOpaServer]:
    with LocalOpaServer() as server:
        yield server


@pytest.fixture(scope="module")
def sidecar(opa: LocalOpaServer) -> SidecarEngine:
    return SidecarEngine(POLICY, opa.url, timeout=5.0)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inp=policy_inputs(Catalog(POLICY.catalog)))
def test_the_sidecar_decides_as_the_embedded_engine(
    sidecar: SidecarEngine, inp: dict[str, Any]
) -> None:
    assert sidecar.evaluate(inp) == EMBEDDED.evaluate(inp)


def test_the_sidecar_holds_the_gateways_policy(opa: LocalOpaServer, sidecar: SidecarEngine) -> None:
    assert sidecar.version == POLICY.version
    assert set(opa.state.policies) == {f"gateway/{name}" for name in POLICY.modules}
    assert opa.state.data["catalog"] == POLICY.data["catalog"]


def test_a_policy_opa_rejects_stops_the_start(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(bundled_policy_dir(), tmp_path / "p")
    (tmp_path / "p" / "sharing.rego").write_text("package sharing\nthis is not rego\n")
    with LocalOpaServer() as server, pytest.raises(PolicyUnavailable):
        SidecarEngine(load_policy_set(tmp_path / "p"), server.url, timeout=5.0)


def test_no_sidecar_no_start() -> None:
    with pytest.raises(PolicyUnavailable, match="did not take"):
        SidecarEngine(POLICY, "http://127.0.0.1:9", timeout=0.5)


def test_a_gateway_on_the_sidecar_answers_as_on_the_embedded_engine(tmp_path: Path) -> None:
    with LocalOpaServer() as server:
        gws = [
            make_test_gateway(tmp_path / "opa", policy_engine="opa", opa_url=server.url),
            make_test_gateway(tmp_path / "embedded"),
        ]
        answers = []
        for gw in gws:
            r = gw.client.post(
                "/v1/disclosures",
                json={"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
                headers=gw.auth("veiligthuis"),
            )
            assert r.status_code == 200
            answers.append([(s["source"], s["fields"], s["withheld"]) for s in r.json()["sources"]])
        assert answers[0] == answers[1]
        # The sidecar going away mid-service: every decision the engine must make is a
        # denial, nothing released. (Answers the memo holds are the same policy version's own
        # and still stand: ADR 0011.)
        server.shutdown()
        server.server_close()
        r = gws[0].client.post(
            "/v1/disclosures",
            json={
                "case_id": gws[0].case_ids["mda"],
                "bsn": demo_bsn("mda.ex_partner"),
                "urgency": "spoed",  # an input not asked before
                "justification": "acute dreiging",
            },
            headers=gws[0].auth("veiligthuis"),
        )
        assert r.status_code == 403
        assert {reason for s in r.json()["sources"] for reason in s["reasons"]} == {"engine_error"}
        for gw in gws:
            gw.close()


def test_sample_input_on_the_sidecar(sidecar: SidecarEngine) -> None:
    assert sidecar.evaluate(sample_policy_input())["allow"] is True
