"""POST /v1/policy/dry-run: a hypothetical request through the policy in force."""

from __future__ import annotations

from typing import Any

from gateway.testing import TestGateway, sample_policy_input


def body(**changes: Any) -> dict[str, Any]:
    inp = sample_policy_input("politie.incidenten")
    for part, members in changes.items():
        inp[part].update(members)
    return {"input": inp}


def test_the_dry_run_shows_the_decision_and_the_rule_path(shared_gw: TestGateway) -> None:
    r = shared_gw.client.post(
        "/v1/policy/dry-run", json=body(), headers=shared_gw.auth("veiligthuis")
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["policy_version"] == shared_gw.gateway.active.current.version
    assert doc["decision"] == shared_gw.gateway.engine.evaluate(body()["input"])
    steps = {s["step"]: s["result"] for s in doc["explanation"]["fields"]["processen_verbaal"]}
    assert steps["sensitivity"] == "geheim or unknown: never released"
    assert doc["decision"]["withheld"]["processen_verbaal"] == "geheim"


def test_a_closed_case_fails_its_check_in_the_dry_run(shared_gw: TestGateway) -> None:
    r = shared_gw.client.post(
        "/v1/policy/dry-run",
        json=body(case={"status": "closed"}),
        headers=shared_gw.auth("veiligthuis"),
    )
    assert r.status_code == 200
    checks = {c["check"]: c["result"] for c in r.json()["explanation"]["request_checks"]}
    assert checks["case_closed"] == "failed" and r.json()["decision"]["allow"] is False


def test_the_dry_run_needs_a_token_and_a_complete_input(shared_gw: TestGateway) -> None:
    assert shared_gw.client.post("/v1/policy/dry-run", json=body()).status_code == 401
    bad = body(case={"stage": "morgen"}, request={"urgency": "heel erg"})
    bad["input"]["requester"]["bsn"] = "999993847"  # no personal data in a hypothetical input
    r = shared_gw.client.post("/v1/policy/dry-run", json=bad, headers=shared_gw.auth("veiligthuis"))
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    where = {e["location"] for e in r.json()["errors"]}
    assert {"/input/case/stage", "/input/request/urgency"} <= where
    assert "999993847" not in r.text


def test_an_engine_failure_is_a_503_that_tells_nothing_of_the_engine(tmp_path: Any) -> None:
    from gateway.errors import EngineError
    from gateway.testing import make_test_gateway

    class Failing:
        version = "sha256:failing"

        def evaluate(self, policy_input: Any) -> Any:
            raise EngineError("rego_type_error: secret engine detail")

    gw = make_test_gateway(tmp_path, engine=lambda _embedded: Failing())
    try:
        r = gw.client.post("/v1/policy/dry-run", json=body(), headers=gw.auth("veiligthuis"))
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert "secret engine detail" not in r.text
    finally:
        gw.close()
