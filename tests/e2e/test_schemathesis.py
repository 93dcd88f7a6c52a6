"""Schemathesis against a served demo: at least 1,000 generated requests, with real case ids,
BSNs and tokens so that they reach the disclosure logic. No 5xx, every error problem+json,
every response as documented."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NegativeDataRejectionConfig

from gateway.demo.region import region
from gateway.testing import ServedDemo, served_demo

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 150, GenerationMode.NEGATIVE: 60}
SEEN: list[int] = []


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDemo]:
    """A demo of its own: the fuzzer moves cases along and links people."""
    with served_demo(tmp_path_factory.mktemp("fuzz-home")) as running:
        yield running


def reachable(doc: dict[str, Any], case_ids: list[str]) -> dict[str, Any]:
    """The served document with real case ids and demo BSNs offered as the only values, so
    that generated requests get past validation into the policy and the ledger."""
    doc = copy.deepcopy(doc)
    bsns = [p.bsn for p in region().persons.values()]
    schemas = doc["components"]["schemas"]
    for name in ("DisclosureBody", "SubjectLink", "SignalCreate", "CaseFromMatch"):
        schemas[name]["properties"]["bsn"] = {"type": "string", "enum": bsns}
    schemas["DisclosureBody"]["properties"]["case_id"] = {"type": "string", "enum": case_ids}
    for item in doc["paths"].values():
        for op in item.values():
            for param in op.get("parameters", []):
                if param["name"] == "case_id":
                    param["schema"] = {"type": "string", "enum": case_ids}
            # A cursor is valid only as the API gave it out (any other is a 400 on /cursor,
            # tested in tests/signals): the fuzzer pages from the start.
            if "parameters" in op:
                op["parameters"] = [p for p in op["parameters"] if p["name"] != "cursor"]
    return doc


# A body over the documented limit is refused with 413 before it is read as JSON (the Guard
# middleware): a rejection of invalid data like any 4xx the check knows. The fuzzer reaches it
# with a justification one character too long made of astral characters (12 bytes each in
# JSON), which is both schema-invalid and over 16 KB.
REJECTIONS = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [*NegativeDataRejectionConfig._DEFAULT_EXPECTED_STATUSES, 413]
            }
        }
    }
)


@pytest.fixture(scope="module")
def api(fuzzed: ServedDemo) -> Any:
    doc = httpx.get(f"{fuzzed.base}/openapi.json").json()
    case_ids = [*fuzzed.secrets["cases"].values(), "case-000000000000"]
    return schemathesis.openapi.from_dict(reachable(doc, case_ids), config=REJECTIONS)


@pytest.fixture(scope="module")
def tokens(fuzzed: ServedDemo) -> list[str]:
    out = []
    for client in ("zaanstad-regie", "politie-wijkagent", "purmerend-regie"):
        r = httpx.post(
            f"{fuzzed.base}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client, fuzzed.secrets["clients"][client]),
        )
        out.append(r.json()["access_token"])
    return out


def keep_cross_member_rule(body: Any) -> Any:
    """One rule the schema cannot express: a source in `fields` must be in `sources` when that
    is given (else 400). Generated bodies are made to keep it so that they reach the policy."""
    if isinstance(body, dict) and isinstance(body.get("sources"), list):
        wanted = body.get("fields")
        if isinstance(wanted, dict):
            return {**body, "fields": {k: v for k, v in wanted.items() if k in body["sources"]}}
    return body


def unsendable(value: Any) -> bool:
    """A query value no URL can carry (None, an object, an empty list, a list of those)."""
    if value is None or isinstance(value, dict):
        return True
    return isinstance(value, list) and (not value or any(map(unsendable, value)))


# NOTE: the strategies are drawn directly (not through schemathesis' pytest plugin), so that
# the test does not depend on pytest internals the plugin patches.
@pytest.mark.parametrize("mode", list(GenerationMode))
def test_generated_requests(
    api: Any, fuzzed: ServedDemo, tokens: list[str], mode: GenerationMode
) -> None:
    def check(case: Any) -> None:
        if isinstance(case.query, dict) and any(map(unsendable, case.query.values())):
            # The HTTP client leaves such a parameter out of the URL, so the request actually
            # sent can be a valid one that the fuzzer takes for invalid.
            return
        token = tokens[len(SEEN) % len(tokens)]
        case.body = keep_cross_member_rule(case.body)
        response = case.call_and_validate(
            base_url=fuzzed.base, headers={"Authorization": f"Bearer {token}"}
        )
        SEEN.append(response.status_code)
        assert response.status_code < 500
        if response.status_code >= 400:
            assert response.headers["content-type"] == ["application/problem+json"]

    for result in api.get_all_operations():
        operation = result.ok()
        run = settings(
            max_examples=EXAMPLES_PER_OPERATION[mode],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(case=operation.as_strategy(generation_mode=mode))(check))
        try:
            run()
        except Unsatisfiable:
            # An operation without parameters or body (GET /health) has nothing to make
            # invalid; every other operation must produce negative cases.
            assert mode is GenerationMode.NEGATIVE and operation.path == "/health"


@pytest.mark.after_all
def test_enough_cases_ran() -> None:
    assert len(SEEN) >= 1000, len(SEEN)  # the positive half alone is 13 x 150
    assert 200 in SEEN and 403 in SEEN and 400 in SEEN  # the policy was reached, both ways
