"""The FastAPI application: thin handlers over the registry and the disclosure core."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import structlog
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway import API_VERSION, __version__
from gateway.api import problems
from gateway.api.schemas import (
    CaseCreate,
    CasePatch,
    DisclosureBody,
    DisclosureOut,
    SubjectLink,
)
from gateway.auth.principal import Principal
from gateway.auth.server import FormRequest
from gateway.bsn import Bsn
from gateway.disclosure import DisclosureRequest, DisclosureResult
from gateway.errors import AuthenticationFailed, InvalidRequest, Problem
from gateway.runtime import Gateway
from gateway.typing import FieldName, SourceId

log = structlog.get_logger(__name__)
_bearer = HTTPBearer(auto_error=False)

DESCRIPTION = """
Purpose-bound information sharing between care-and-safety partners.

Every disclosure is decided by the Rego policy for the case's purpose, the requester's role and
the case stage, recorded in the encrypted access ledger **before** any data leaves, and answered
with only the minimal, transformed fields the policy justifies. Errors are
`application/problem+json` (RFC 9457). Get a token at `POST /oauth/token` (client credentials).
"""


def _problem_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {problems.PROBLEM_JSON: {}}}


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Every /v1 call: the requester is whoever the verified token says, nothing else."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("a bearer access token is required")
    gw: Gateway = request.app.state.gateway
    return gw.token_verifier.verify(credentials.credentials)


Requester = Annotated[Principal, Depends(principal)]


def create_app(gw: Gateway) -> FastAPI:
    app = FastAPI(
        title="Zorg-en-veiligheid sharing gateway",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        responses={
            400: _problem_doc("Invalid request: every problem listed"),
            401: _problem_doc("Missing or invalid token"),
        },
    )
    app.state.gateway = gw
    problems.install(app)

    @app.middleware("http")
    async def _conventions(request: Request, call_next: Any) -> Response:
        trace_id = _trace_id(request.headers.get("traceparent"))
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        try:
            response: Response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("trace_id")
        response.headers["API-Version"] = API_VERSION
        response.headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/oauth/token", tags=["auth"], summary="OAuth2 client credentials (RFC 6749 §4.4)")
    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            oauth_request = FormRequest(request.method, str(request.url), request.headers, form)
            status, body, headers = gw.token_server.create_token_response(oauth_request)
        except InsecureTransportError:
            raise InvalidRequest(
                [Problem("/", "client credentials are accepted only over TLS or loopback")]
            ) from None
        if status != 200:
            # RFC 6749 §5.2 members kept alongside the problem members.
            error = str(body.get("error", "invalid_request"))
            raise_status = 401 if error == "invalid_client" else 400
            return problems.problem_response(
                raise_status,
                "oauth-" + error.replace("_", "-"),
                "Token request refused",
                str(body.get("error_description") or error),
                extra={"error": error},
                headers=headers,
            )
        return JSONResponse(body, headers=headers)

    @app.get("/health", tags=["operations"], summary="Liveness and policy version")
    async def health() -> dict[str, str]:
        return {"status": "ok", "policy_version": gw.engine.version}

    @app.get(
        "/v1/cases", tags=["cases"], summary="Cases the requester's organisation takes part in"
    )
    async def list_cases(who: Requester) -> dict[str, Any]:
        return {"cases": gw.cases.cases_for(who)}

    @app.post("/v1/cases", status_code=201, tags=["cases"], summary="Create a case (regisseur)")
    async def create_case(body: CaseCreate, who: Requester) -> dict[str, Any]:
        case = gw.cases.create(who, body.purpose, body.participants)
        return {"case_id": case.id, "purpose": case.purpose, "stage": case.stage}

    @app.patch("/v1/cases/{case_id}", tags=["cases"], summary="Move the case to a later stage")
    async def patch_case(case_id: str, body: CasePatch, who: Requester) -> dict[str, Any]:
        case = gw.cases.set_stage(who, case_id, body.stage)
        return {"case_id": case.id, "stage": case.stage, "status": case.status}

    @app.post(
        "/v1/cases/{case_id}/subjects",
        status_code=201,
        tags=["cases"],
        summary="Link a person to the case (regisseur)",
    )
    async def link_subject(case_id: str, body: SubjectLink, who: Requester) -> dict[str, Any]:
        row = gw.cases.link_subject(
            who, case_id, Bsn(body.bsn), body.relation, body.minor, body.consents
        )
        return {"subject_ref": row.subject_ref, "relation": row.relation, "minor": row.minor}

    @app.post(
        "/v1/disclosures",
        tags=["sharing"],
        summary="Ask for information about a person in a case",
        response_model=DisclosureOut,
        responses={
            403: _problem_doc("Denied for every source (the ledger receipt is included)"),
            503: _problem_doc("Ledger, policy engine or key unavailable: nothing released"),
        },
    )
    async def disclose(body: DisclosureBody, who: Requester) -> DisclosureOut:
        request = DisclosureRequest(
            case_id=body.case_id,
            bsn=Bsn(body.bsn),
            sources=tuple(SourceId(s) for s in body.sources) if body.sources else None,
            fields={
                SourceId(s): tuple(FieldName(f) for f in fs)
                for s, fs in (body.fields or {}).items()
            },
            urgency=body.urgency,
            justification=body.justification,
            trace_id=structlog.contextvars.get_contextvars().get("trace_id"),
        )
        case, subject = gw.cases.context(request.case_id, request.bsn)
        result = await gw.disclosures.disclose(who, request, case, subject)
        return _disclosure_out(result)

    return app


def _disclosure_out(result: DisclosureResult) -> DisclosureOut:
    sources = []
    for r in result.sources:
        grants = r.decision.fields
        sources.append(
            {
                "source": r.source,
                "status": r.status,
                "fields": {
                    name: {
                        "value": value,
                        "transform": grants[name].transform,
                        "legal_basis": grants[name].basis,
                        "break_glass": grants[name].break_glass,
                    }
                    for name, value in r.values.items()
                },
                "withheld": dict(r.withheld),
                "reasons": list(r.decision.reasons),
                "obligations": [dict(o) for o in r.decision.obligations],
                "error": r.error,
            }
        )
    return DisclosureOut.model_validate(
        {
            "case_id": result.case_id,
            "purpose": result.purpose,
            "stage": result.stage,
            "policy_version": result.policy_version,
            "review_required": result.review,
            "receipt": result.receipt.as_dict(),
            "sources": sources,
        }
    )


def _trace_id(traceparent: str | None) -> str:
    # W3C Trace Context: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
    if traceparent:
        parts = traceparent.split("-")
        if (
            len(parts) == 4
            and len(parts[1]) == 32
            and all(c in "0123456789abcdef" for c in parts[1])
        ):
            return parts[1]
    return secrets.token_hex(16)
