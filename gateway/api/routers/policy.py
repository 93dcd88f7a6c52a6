"""The policy dry run: a hypothetical request through the policy in force."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import GatewayDep, Requester
from gateway.api.docs import AUTHENTICATED, problems
from gateway.api.schemas import DryRunBody, DryRunOut

router = APIRouter(prefix="/policy", tags=["policy"])


@router.post(
    "/dry-run",
    summary="Evaluate a hypothetical request and show the rule path of every field",
    operation_id="policyDryRun",
    description=(
        "For privacy officers and agency developers: the decision the policy in force would "
        "make on a complete, hypothetical policy input (no BSN, no case from the registry), "
        "with each request-level check and, per field, each step of the field rule. Nothing "
        "is fetched and nothing about a person is processed, so nothing is ledgered."
    ),
    responses=problems(*AUTHENTICATED, 503),
)
async def policy_dry_run(body: DryRunBody, gw: GatewayDep, who: Requester) -> DryRunOut:
    return DryRunOut.model_validate(await gw.dry_run(body.input.model_dump()))
