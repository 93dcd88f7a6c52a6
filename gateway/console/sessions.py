"""Console sessions, kept in the gateway database so that every worker process sees them.

The browser holds a random 256-bit token in a ``__Host-`` cookie; the database holds its SHA-256.
A session ends at sign-out, after ``idle`` without use, or ``lifetime`` after sign-in, whichever
comes first — and an ended session's row (with any auditor key sealed in it) is deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, delete, func, insert, select, update

from gateway.clock import utc_now
from gateway.console.tables import console_login, console_session
from gateway.errors import Unavailable
from gateway.rowseals import RowSeals

log = structlog.get_logger("gateway.registry")

ROLES = ("privacy_officer", "auditor")
_TOUCH_EVERY = timedelta(seconds=30)
"""last_seen is written at most this often (idle time is measured to within it)."""
_LOGIN_VALID = timedelta(minutes=10)
MAX_PENDING_LOGINS = 10_000
"""Sign-ins started and not finished (each lives ten minutes) at most; then 503."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Identity:
    """Who signed in, as the provider's ID token says."""

    subject: str
    name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class ConsoleSession:
    id_hash: str
    identity: Identity
    csrf: str
    has_auditor_key: bool

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    verifier: str


class SessionStore:
    def __init__(
        self,
        engine: Engine,
        seals: RowSeals,
        idle: timedelta,
        lifetime: timedelta,
        *,
        max_pending: int = MAX_PENDING_LOGINS,
    ) -> None:
        self._db = engine
        self._seals = seals
        self.idle = idle
        self.lifetime = lifetime
        self._max_pending = max_pending

    # Sign-in: the authorisation request's secrets, bound to the browser that asked.

    def start_login(self) -> tuple[str, PendingLogin]:
        token = secrets.token_urlsafe(32)
        pending = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),  # RFC 7636: 43–128 characters
        )
        now = utc_now()
        with self._db.begin() as db:
            db.execute(
                delete(console_login).where(console_login.c.created_at < _iso(now - _LOGIN_VALID))
            )
            # Anyone may start a sign-in: without a cap, a loop of GET /console/login grows the
            # table by a row a request for ten minutes.
            pending_now = db.execute(select(func.count()).select_from(console_login)).scalar_one()
            if pending_now >= self._max_pending:
                raise Unavailable(
                    "too many sign-ins under way; try again shortly",
                    headers={"Retry-After": "60"},
                )
            db.execute(
                insert(console_login).values(
                    id_hash=_hash(token), created_at=_iso(now), **pending.__dict__
                )
            )
        return token, pending

    def take_login(self, token: str | None, state: str) -> PendingLogin | None:
        """The pending sign-in of this browser if ``state`` is its own; used once."""
        if not token:
            return None
        with self._db.begin() as db:
            row = db.execute(
                delete(console_login)
                .where(console_login.c.id_hash == _hash(token))
                .returning(
                    console_login.c.state,
                    console_login.c.nonce,
                    console_login.c.verifier,
                    console_login.c.created_at,
                )
            ).first()
        if row is None or row.created_at < _iso(utc_now() - _LOGIN_VALID):
            return None
        if not hmac.compare_digest(row.state, state):
            return None
        return PendingLogin(row.state, row.nonce, row.verifier)

    # Sessions.

    def open(self, identity: Identity) -> str:
        token = secrets.token_urlsafe(32)
        now = _iso(utc_now())
        row = {
            "id_hash": _hash(token),
            "subject": identity.subject,
            "name": identity.name,
            "roles": " ".join(sorted(identity.roles)),
            "csrf": secrets.token_urlsafe(32),
            "created_at": now,
        }
        with self._db.begin() as db:
            db.execute(
                insert(console_session).values(
                    **row,
                    last_seen_at=now,
                    auditor_key=None,
                    seal=self._seals.seal("console_session", row),
                )
            )
        return token

    def get(self, token: str | None) -> ConsoleSession | None:
        if not token or len(token) > 100:
            return None
        id_hash = _hash(token)
        now = utc_now()
        with self._db.connect() as db:
            row = db.execute(
                select(console_session).where(console_session.c.id_hash == id_hash)
            ).first()
        if row is None:
            return None
        if not self._seals.check("console_session", row._mapping):
            # Written behind the gateway's back (or before seals): no session. The row stays
            # for whoever investigates; the purge takes it once it is old.
            log.error("registry.seal_mismatch", table="console_session")
            return None
        seen = datetime.fromisoformat(row.last_seen_at)
        if now - seen > self.idle or now - datetime.fromisoformat(row.created_at) > self.lifetime:
            self.end(token)
            return None
        if now - seen > _TOUCH_EVERY:
            with self._db.begin() as db:
                db.execute(
                    update(console_session)
                    .where(console_session.c.id_hash == id_hash)
                    .values(last_seen_at=_iso(now))
                )
        identity = Identity(row.subject, row.name, frozenset(row.roles.split()))
        return ConsoleSession(id_hash, identity, row.csrf, row.auditor_key is not None)

    def end(self, token: str | None) -> None:
        if token:
            with self._db.begin() as db:
                db.execute(delete(console_session).where(console_session.c.id_hash == _hash(token)))

    def purge(self) -> int:
        """Delete every ended session (idle or past its lifetime); returns how many."""
        now = utc_now()
        with self._db.begin() as db:
            gone = db.execute(
                delete(console_session).where(
                    (console_session.c.last_seen_at < _iso(now - self.idle))
                    | (console_session.c.created_at < _iso(now - self.lifetime))
                )
            )
        return int(gone.rowcount or 0)

    # The auditor's key for this session only (ADR 0014).

    def keep_auditor_key(self, token: str, key: X25519PrivateKey) -> None:
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        nonce = os.urandom(12)
        id_hash = _hash(token)
        sealed = nonce + AESGCM(_session_key(token)).encrypt(nonce, raw, id_hash.encode())
        with self._db.begin() as db:
            db.execute(
                update(console_session)
                .where(console_session.c.id_hash == id_hash)
                .values(auditor_key=sealed)
            )

    def forget_auditor_key(self, token: str) -> None:
        with self._db.begin() as db:
            db.execute(
                update(console_session)
                .where(console_session.c.id_hash == _hash(token))
                .values(auditor_key=None)
            )

    def auditor_key(self, token: str) -> X25519PrivateKey | None:
        id_hash = _hash(token)
        with self._db.connect() as db:
            sealed = db.execute(
                select(console_session.c.auditor_key).where(console_session.c.id_hash == id_hash)
            ).scalar()
        if not sealed:
            return None
        try:
            raw = AESGCM(_session_key(token)).decrypt(sealed[:12], sealed[12:], id_hash.encode())
        except InvalidTag:
            return None
        return X25519PrivateKey.from_private_bytes(raw)


def _session_key(token: str) -> bytes:
    """The key the session's auditor key is sealed with: derived from the cookie, which the
    database never holds."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway-console-auditor-key-v1"
    ).derive(token.encode())
