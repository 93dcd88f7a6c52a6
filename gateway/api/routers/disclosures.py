"""Disclosures: ask for information about a person in a case."""

from __future__ import annotations

import structlog
from fastapi import APIRouter

from gateway.api.deps import GatewayDep, Requester
from gateway.api.docs import AUTHENTICATED, problems
from gateway.api.schemas import DeniedOut, DisclosureBody, DisclosureOut
from gateway.bsn import Bsn
from gateway.disclosure import DisclosureRequest, DisclosureResult, source_view
from gateway.typing import FieldName, SourceId

router = APIRouter(prefix="/disclosures", tags=["sharing"])


@router.post(
    "",
    summary="Ask for information about a person in a case",
    operation_id="disclose",
    description=(
        "Decided per source by the policy for the case's purpose, the requester's role and the "
        "case stage; recorded in the access ledger **before** anything is fetched. A requester "
        "whose organisation does not take part in the case gets one and the same 403 whether "
        "the case exists or not."
    ),
    responses=problems(
        *AUTHENTICATED,
        403,
        503,
        model=DeniedOut,
        s403="The policy released nothing; the ledger receipt and per-source reasons are included",
    ),
)
async def disclose(body: DisclosureBody, gw: GatewayDep, who: Requester) -> DisclosureOut:
    request = DisclosureRequest(
        case_id=body.case_id,
        bsn=Bsn(body.bsn),
        sources=tuple(SourceId(s) for s in body.sources) if body.sources else None,
        fields={
            SourceId(s): tuple(FieldName(f) for f in fs) for s, fs in (body.fields or {}).items()
        },
        urgency=body.urgency,
        justification=body.justification,
        **_trace(),
    )
    case, subject = gw.cases.context(request.case_id, request.bsn)
    result = await gw.disclosures.disclose(who, request, case, subject)
    return _out(result)


def _trace() -> dict[str, str | None]:
    bound = structlog.contextvars.get_contextvars()
    return {k: bound.get(k) for k in ("trace_id", "span_id", "parent_span_id")}


def _out(result: DisclosureResult) -> DisclosureOut:
    return DisclosureOut.model_validate(
        {
            "case_id": result.case_id,
            "purpose": result.purpose,
            "stage": result.stage,
            "policy_version": result.policy_version,
            "review_required": result.review,
            "receipt": result.receipt.as_dict(),
            "sources": [source_view(r) for r in result.sources],
        }
    )
