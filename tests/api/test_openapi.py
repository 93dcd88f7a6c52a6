"""The OpenAPI document and the interactive docs: served by the gateway itself, public, and
true to what the API does."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.api.app import document
from gateway.testing import OBSERVED, TestGateway


def test_the_document_is_public_and_versioned(shared_gw: TestGateway) -> None:
    r = shared_gw.client.get("/v1/openapi.json", headers={"Origin": "https://elders.example"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    doc = r.json()
    assert doc["info"]["version"] == r.headers["API-Version"]
    assert doc["info"]["contact"]["email"] and doc["servers"][0]["url"].endswith("/v1")


def test_errors_are_problem_json_and_422_is_gone(shared_gw: TestGateway) -> None:
    doc = shared_gw.client.get("/v1/openapi.json").json()
    for item in doc["paths"].values():
        for op in item.values():
            assert "422" not in op["responses"] and "400" in op["responses"]
            for status, response in op["responses"].items():
                assert "API-Version" in response["headers"]
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_identifier_rules_are_in_the_schema(shared_gw: TestGateway) -> None:
    doc = document("https://gateway.example", shared_gw.gateway.catalog)
    schemas = doc["components"]["schemas"]
    bsn = schemas["DisclosureBody"]["properties"]["bsn"]
    assert bsn["pattern"] == "^[0-9]{9}$" and "elfproef" in bsn["description"]
    oins = schemas["CaseCreate"]["properties"]["participants"]["items"]
    assert oins["pattern"] == "^[0-9]{20}$"
    token = doc["paths"]["/oauth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_interactive_docs_need_no_outside_network(shared_gw: TestGateway, page: str) -> None:
    html = shared_gw.client.get(page).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        assert shared_gw.client.get(asset).status_code == 200
    assert "cdn" not in html.lower()


@pytest.mark.after_all
def test_every_observed_status_is_documented(shared_gw: TestGateway) -> None:
    # A floor of calls of its own, so that it also means something when run alone.
    shared_gw.client.get("/v1/health")
    shared_gw.client.get("/v1/cases")
    shared_gw.client.post("/v1/oauth/token", data={"grant_type": "client_credentials"})
    shared_gw.client.post("/v1/disclosures", json={}, headers=shared_gw.auth("veiligthuis"))
    doc: dict[str, Any] = shared_gw.client.get("/v1/openapi.json").json()
    templates = [
        (re.compile("^/v1" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
        for path in doc["paths"]
    ]
    undocumented = set()
    seen = 0
    for method, path, status in OBSERVED:
        match = next((t for rx, t in templates if rx.match(path)), None)
        operation = doc["paths"].get(match or "", {}).get(method.lower())
        if operation is None:
            continue  # not an API operation (docs, static files, 404 on unknown paths)
        seen += 1
        if str(status) not in operation["responses"]:
            undocumented.add((method, match, status))
    assert seen >= 4
    assert not undocumented, sorted(undocumented)
