"""Operations: liveness and the policy version in force."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import GatewayDep
from gateway.api.docs import COMMON, problems
from gateway.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    summary="Liveness and the policy version in force",
    operation_id="health",
    responses=problems(*COMMON),
)
async def health(gw: GatewayDep) -> Health:
    return Health(status="ok", policy_version=gw.engine.version)
