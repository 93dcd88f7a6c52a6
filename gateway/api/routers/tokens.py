"""The OAuth2 token endpoint (client credentials, RFC 6749 §4.4), hardened:

* the transport (TLS or a loopback peer) is judged from the connection, not the ``Host`` header;
* failed attempts are limited per client id and per peer, checked before any secret is hashed;
* the scrypt check runs on the auth lane, never on the event loop;
* an unknown client and a wrong secret get the same answer after the same work.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.deps import GatewayDep
from gateway.api.docs import COMMON, problems
from gateway.api.schemas import TokenForm, TokenOut
from gateway.auth.server import FormRequest
from gateway.auth.transport import transport_of
from gateway.errors import AuthenticationFailed, InvalidRequest, Problem, Unavailable
from gateway.lanes import LaneFull

router = APIRouter(tags=["auth"])

# NOTE: authlib refuses a non-https URI unless it names a loopback host; the transport has been
# judged from the connection by then, so authlib gets a fixed URI, never one built from Host.
_CHECKED_URI = "https://localhost/oauth/token"
_FORM = "application/x-www-form-urlencoded"


@router.post(
    "/oauth/token",
    summary="Get an access token (OAuth2 client credentials, RFC 6749 §4.4)",
    operation_id="getToken",
    response_model=TokenOut,
    responses=problems(*COMMON, 401, 429, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {_FORM: {"schema": {"$ref": "#/components/schemas/TokenForm"}}},
        }
    },
)
async def token(request: Request, gw: GatewayDep) -> JSONResponse:
    headers = {k.lower(): v for k, v in request.headers.items()}
    transport = transport_of(request.scope, headers, gw.settings.trusted_proxies)
    if not transport.secure:
        raise InvalidRequest(
            [Problem("/", "client credentials are accepted only over TLS or loopback")]
        )
    if headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        raise InvalidRequest([Problem("/", f"the body must be {_FORM}")])
    form = {k: str(v) for k, v in (await request.form(max_files=0, max_fields=8)).items()}
    unknown = set(form) - set(TokenForm.model_fields)
    if unknown:
        refusal = InvalidRequest(
            [Problem("/*", "not a member of the token request")] * len(unknown)
        )
        refusal.extra["error"] = "invalid_request"  # RFC 6749 §5.2
        raise refusal
    basic = _basic(headers.get("authorization"))
    client_id = _claimed_client_id(basic, form)
    gw.throttle.check(client_id, transport.peer)
    if basic is _UNREADABLE:
        # authlib would raise on these (a 500); they name no client, so the answer is a
        # failed authentication, counted against the peer like any other.
        gw.throttle.failed(client_id, transport.peer)
        raise AuthenticationFailed(
            "client authentication failed", extra={"error": "invalid_client"}
        )

    oauth_request = FormRequest("POST", _CHECKED_URI, request.headers, form)
    try:
        status, body, out_headers = await gw.auth_lane.run(
            gw.token_server.create_token_response, oauth_request, timeout=10.0
        )
    except (LaneFull, TimeoutError):
        raise Unavailable(
            "too many token requests at once; try again shortly", headers={"Retry-After": "1"}
        ) from None
    if status == 200:
        return JSONResponse(body, headers=out_headers)
    error = str(body.get("error", "invalid_request"))
    if error == "invalid_client":
        gw.throttle.failed(client_id, transport.peer)
        # One answer for "no such client" and "wrong secret" (RFC 6749 §5.2 member kept).
        raise AuthenticationFailed("client authentication failed", extra={"error": error})
    refusal = InvalidRequest(
        [Problem("/grant_type" if "grant" in error else "/", _oauth_message(error))],
        detail="the token request is not valid",
    )
    refusal.extra["error"] = error  # RFC 6749 §5.2, for OAuth client libraries
    raise refusal


def _oauth_message(error: str) -> str:
    return {
        "unsupported_grant_type": "only grant_type=client_credentials is supported",
        "invalid_scope": "the scope is not valid",
    }.get(error, "the token request is not valid (RFC 6749 §5.2: " + error + ")")


_UNREADABLE = object()
"""HTTP Basic credentials that are not base64 of UTF-8 ``id:secret`` (RFC 7617)."""


def _basic(authorization: str | None) -> str | object | None:
    """The decoded ``id:secret`` of HTTP Basic credentials; None where the header is not Basic
    (authlib's other client authentication methods decide); :data:`_UNREADABLE`."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return _UNREADABLE
    return decoded if ":" in decoded else _UNREADABLE


def _claimed_client_id(basic: str | object | None, form: dict[str, Any]) -> str | None:
    """The client id the caller claims (for throttling only; authlib authenticates it)."""
    if isinstance(basic, str):
        return unquote(basic.split(":", 1)[0])[:128] or None
    if basic is _UNREADABLE:
        return None
    value = form.get("client_id")
    return str(value)[:128] if value else None
