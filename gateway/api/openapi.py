"""The OpenAPI document, shaped to the NL API Design Rules 2.2.1 (../shared/standards).

FastAPI's generated document is adjusted in one place, here, rather than route by route:

* ``servers`` is this gateway's public URL with the major version (/core/uri-version); paths
  are relative to it;
* ``info.version`` equals the ``API-Version`` header (/core/version-header), and every response
  declares that header;
* error responses are ``application/problem+json`` (RFC 9457), and FastAPI's 422
  ``HTTPValidationError`` — which this API never sends — is replaced by the 400 it does send;
* ``contact`` is filled in (/core/doc-openapi-contact).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway import API_VERSION
from gateway.api.docs import HEADERS
from gateway.api.problems import PROBLEM_JSON
from gateway.api.schemas import TokenForm
from gateway.catalog import Catalog

PREFIX = "/v1"
CONTACT = {
    "name": "Beheer deelgateway zorg en veiligheid",
    "email": "gateway-beheer@zorg-veiligheid.example",
    "url": "https://gateway.zorg-veiligheid.example/contact",
}
LICENSE = {"name": "EUPL-1.2", "identifier": "EUPL-1.2"}


def build(app: FastAPI, public_url: str, description: str, catalog: Catalog) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=API_VERSION,
        description=description,
        routes=app.routes,
        servers=[{"url": public_url + PREFIX, "description": "This gateway"}],
        contact=CONTACT,
        license_info=LICENSE,
        tags=[
            {"name": "auth", "description": "Access tokens for agency applications."},
            {"name": "cases", "description": "Cases and the persons linked to them."},
            {"name": "sharing", "description": "Purpose-bound disclosures, each ledgered."},
            {"name": "operations", "description": "Liveness and the policy in force."},
        ],
    )
    doc["paths"] = {
        path.removeprefix(PREFIX) or "/": item
        for path, item in doc.get("paths", {}).items()
        if path.startswith(PREFIX)
    }
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["TokenForm"] = TokenForm.model_json_schema(ref_template="#/components/schemas/{model}")
    _catalogue_vocabulary(schemas, catalog)
    for item in doc["paths"].values():
        for operation in item.values():
            _shape_responses(operation.setdefault("responses", {}))
    return doc


def _catalogue_vocabulary(schemas: dict[str, Any], catalog: Catalog) -> None:
    """The catalogue is public: its purposes, sources, fields and areas of concern are the only
    values the API
    accepts, and a generated client should know them (anything else is a 400)."""
    sources = sorted(catalog.sources)
    source_enum = {"type": "string", "enum": sources}
    body = schemas["DisclosureBody"]["properties"]
    body["sources"]["anyOf"][0]["items"] = source_enum
    body["fields"]["anyOf"][0] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            s: {
                "type": "array",
                "items": {"type": "string", "enum": sorted(catalog.fields(s))},
                "maxItems": len(catalog.fields(s)),
                "uniqueItems": True,
            }
            for s in sources
        },
    }
    schemas["SubjectLink"]["properties"]["consents"]["items"] = source_enum
    for model in ("CaseCreate", "CaseFromMatch"):
        purpose = schemas[model]["properties"]["purpose"]
        purpose.pop("pattern", None)
        purpose["enum"] = sorted(catalog.purposes)
    area = schemas["SignalCreate"]["properties"]["area"]
    area.pop("pattern", None)
    area["enum"] = sorted(catalog.signal_areas)


def _shape_responses(responses: dict[str, Any]) -> None:
    responses.pop("422", None)
    for status, response in responses.items():
        response["headers"] = {**HEADERS, **response.get("headers", {})}
        content = response.get("content")
        if int(status) >= 400 and content:
            schema = (content.get("application/json") or content.get(PROBLEM_JSON) or {}).get(
                "schema"
            )
            response["content"] = {PROBLEM_JSON: {"schema": schema} if schema else {}}
