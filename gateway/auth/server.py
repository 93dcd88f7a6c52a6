"""The OAuth2 token endpoint: authlib's authorization server, client-credentials grant only.

authlib does the protocol (client authentication by HTTP Basic or form post, grant checks, the
RFC 6749 §5 response); this module adapts it to Starlette and to the gateway's clients.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from sqlalchemy import Engine

from gateway.auth.clients import AuthlibClient, UnknownClient, verified_client
from gateway.auth.tokens import TokenGenerator
from gateway.rowseals import RowSeals


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]  # authlib is untyped
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class FormRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]):
        # NOTE: keep the case-insensitive mapping: authlib looks up "Authorization".
        super().__init__(method=method, uri=uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, engine: Engine, generator: TokenGenerator, seals: RowSeals) -> None:
        super().__init__()
        self._engine = engine
        self._seals = seals
        self.register_token_generator("default", generator)
        self.register_grant(_ClientCredentials)

    def query_client(self, client_id: str) -> AuthlibClient:
        row = verified_client(self._engine, self._seals, client_id)
        # NOTE: an unknown client gets a stand-in that fails the secret check after the same
        # scrypt work, so neither the answer nor its timing tells which client ids exist.
        return AuthlibClient(row) if row else UnknownClient(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        # NOTE: JWT access tokens are self-contained; nothing to store.
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("the gateway has no JSON OAuth endpoints")

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        payload = body if isinstance(body, dict) else json.loads(body)
        # The API layer sets its own content type (problem+json for errors).
        kept = {k: v for k, v in headers if k.lower() != "content-type"}
        return status, payload, kept
