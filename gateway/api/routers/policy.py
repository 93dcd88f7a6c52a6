"""The policy dry run: a hypothetical request through the policy in force."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import GatewayDep, Requester
from gateway.api.docs import AUTHENTICATED, problems
from gateway.api.schemas import DryRunBody, DryRunOut
from gateway.errors import EngineError, PolicyUnavailable
from gateway.lanes import LaneFull
from gateway.policy.explain import dry_run

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
    snapshot = gw.active.current
    lane = gw.disclosures.lanes.policy
    try:
        result = await lane.run(
            dry_run,
            snapshot,
            body.input.model_dump(),
            timeout=gw.settings.policy_timeout_seconds * 3,
            queue_timeout=gw.settings.policy_queue_timeout_seconds,
        )
    except (TimeoutError, LaneFull) as exc:
        raise PolicyUnavailable("the policy could not evaluate the dry run in time") from exc
    except EngineError as exc:  # the engine's text stays in the log, not in the answer
        raise PolicyUnavailable("the policy engine could not evaluate the dry run") from exc
    return DryRunOut.model_validate(result)
