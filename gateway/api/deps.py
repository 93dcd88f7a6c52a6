"""What handlers get injected: the running gateway and the verified requester."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth.principal import Principal
from gateway.errors import AuthenticationFailed
from gateway.runtime import Gateway

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /oauth/token.")


# NOTE: both dependencies are coroutines on purpose: FastAPI runs a plain `def` dependency on
# its thread pool, and two thread hops cost more than the work (a token's signature is checked
# once and remembered; gateway.auth.tokens).
async def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(gateway)]


async def principal(
    gw: GatewayDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Every /v1 call: the requester is whoever the verified token says, nothing else."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("a bearer access token is required")
    return gw.token_verifier.verify(credentials.credentials)


Requester = Annotated[Principal, Depends(principal)]
