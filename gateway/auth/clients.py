"""Registered agency clients (OAuth2 confidential clients) and their secrets.

Secrets are stored only as scrypt hashes. A client is bound to one organisation (OIN), one
organisation type and one role: the token it gets carries exactly these, and nothing in a
request body can change them. Each row is sealed (gateway/rowseals.py): a row changed behind the
gateway's back gets no token.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets

import structlog
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from gateway.errors import RegistryTampered
from gateway.identifiers import OIN_RULE, is_oin
from gateway.rowseals import RowSeals, model_row

log = structlog.get_logger("gateway.registry")

_N, _R, _P = 2**14, 8, 1


class ClientRow(SQLModel, table=True):
    __tablename__ = "client"

    client_id: str = Field(primary_key=True)
    secret_hash: str
    oin: str = Field(index=True)
    organisation: str
    org_type: str
    role: str
    user_ref: str
    """Pseudonymous id of the user or service account behind the client."""
    seal: str | None = None
    """Over every column above (gateway/rowseals.py)."""


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=32, n=_N, r=_R, p=_P).derive(secret.encode())
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if not hmac.compare_digest(scheme, "scrypt"):
        return False
    kdf = Scrypt(salt=base64.b64decode(salt_b64), length=32, n=_N, r=_R, p=_P)
    try:
        kdf.verify(secret.encode(), base64.b64decode(digest_b64))
    except InvalidKey:
        return False
    return True


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def register_client(
    engine: Engine,
    seals: RowSeals,
    *,
    client_id: str,
    secret: str,
    oin: str,
    organisation: str,
    org_type: str,
    role: str,
    user_ref: str,
) -> ClientRow:
    if not is_oin(oin):
        raise ValueError(f"an OIN is {OIN_RULE}")
    row = ClientRow(
        client_id=client_id,
        secret_hash=hash_secret(secret),
        oin=oin,
        organisation=organisation,
        org_type=org_type,
        role=role,
        user_ref=user_ref,
    )
    row.seal = seals.seal("client", model_row(row))
    with Session(engine) as session:
        session.merge(row)
        session.commit()
    return row


def get_client(engine: Engine, client_id: str) -> ClientRow | None:
    """The row as stored, unchecked: for listings. Anything that acts on a client (a token)
    reads it through :func:`verified_client`."""
    with Session(engine) as session:
        return session.get(ClientRow, client_id)


def verified_client(engine: Engine, seals: RowSeals, client_id: str) -> ClientRow | None:
    """The registered client, if its row matches its seal; None if there is no such client.
    A row that does not match (changed, or written behind the gateway's back) raises: no token
    is issued on it."""
    row = get_client(engine, client_id)
    if row is not None and not seals.check("client", model_row(row)):
        log.error("registry.seal_mismatch", table="client")
        raise RegistryTampered("a registered client's row does not match its seal")
    return row


def list_clients(engine: Engine) -> list[ClientRow]:
    with Session(engine) as session:
        return list(session.exec(select(ClientRow).order_by(col(ClientRow.client_id))))


class AuthlibClient:
    """Adapter: a :class:`ClientRow` as authlib's ``ClientMixin`` sees it."""

    def __init__(self, row: ClientRow) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        # NOTE: scopes carry no authority here; the role decides, through the policy.
        return ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(client_secret, self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


_DUMMY_HASH = hash_secret(secrets.token_urlsafe(32))


class UnknownClient(AuthlibClient):
    """Stands in for a client id that is not registered: every check passes except the secret,
    which is checked against a random hash so that it costs the same as a real one."""

    def __init__(self, client_id: str) -> None:
        super().__init__(
            ClientRow(
                client_id=client_id,
                secret_hash=_DUMMY_HASH,
                oin="0" * 20,
                organisation="",
                org_type="",
                role="",
                user_ref="",
            )
        )

    def check_client_secret(self, client_secret: str) -> bool:
        check_secret(client_secret, self.row.secret_hash)
        return False
