"""Push notifications of matches: signed webhook deliveries with retries and back-off.

Deliveries follow the Standard Webhooks specification (standardwebhooks.com) in its asymmetric
form: headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature:
v1a,<base64 Ed25519 signature>`` over ``id.timestamp.body``. The gateway signs with
``webhook-signing.key``; a receiver verifies with the public key (``whpk_…``) from
``GET /v1/signals/webhook-key`` — no shared secret to hand out, store or leak.

A delivery is a row in an outbox, written when its match is ledgered; the dispatcher sends due
rows (claiming each with a lease, so several workers never send one twice at once), retries a
failure after 30 s, doubling up to 6 h (with jitter), and gives up after
``webhook_max_attempts``. A dead webhook never blocks a registration: registering only writes
the outbox row, and the match can always be pulled (``GET /v1/signals/matches``). Each delivery
and each give-up is ledgered (``signal.notify``); what a delivery carries was ledgered with the
match (``signal.match``) before the row existed.

Webhook URLs are set by the operator per client (``gateway clients webhook``), never through
the API: a client cannot make the gateway call an address of its choosing.
"""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, and_, delete, insert, select, update

from gateway.clock import utc_now
from gateway.errors import InvalidRequest, NotFound, Problem
from gateway.ledger.entry import Facts, Outcome
from gateway.ledger.writer import Ledger, Record
from gateway.rowseals import RowSeals
from gateway.signals.lifecycle import stamp
from gateway.signals.tables import client_webhook, signal_delivery

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)
FIRST_RETRY = 30.0
LONGEST_WAIT = 6 * 3600.0
TOLERANCE = 300
"""Seconds a receiver accepts between the signed timestamp and its own clock (replay window)."""
MAX_URL = 2048


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode()


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(key: Ed25519PrivateKey, msg_id: str, timestamp: int, body: bytes) -> str:
    return "v1a," + base64.b64encode(key.sign(signed_content(msg_id, timestamp, body))).decode()


def verify_delivery(
    public_key: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance: int = TOLERANCE,
) -> bool:
    """What a receiver does (and what our tests do): True only for a body signed by the key
    ``whpk_…`` under these headers, with a timestamp within ``tolerance`` seconds of ``now``."""
    try:
        raw = base64.b64decode(public_key.removeprefix("whpk_"), validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    content = signed_content(msg_id, timestamp, body)
    for item in offered:
        version, _, signature = item.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature, validate=True), content)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False


def check_url(url: str, *, allow_http: bool) -> str:
    parts = urlsplit(url)
    problems = []
    if len(url) > MAX_URL:
        problems.append(f"at most {MAX_URL} characters")
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        problems.append("must be an https URL (GATEWAY_WEBHOOK_ALLOW_HTTP for development)")
    if not parts.hostname:
        problems.append("needs a host")
    if parts.username or parts.password:
        problems.append("must not carry credentials")
    if parts.fragment:
        problems.append("must not have a fragment")
    if problems:
        raise InvalidRequest([Problem("/url", p) for p in problems])
    return url


def set_webhook(
    db: Engine, seals: RowSeals, client_id: str, url: str | None, *, allow_http: bool
) -> None:
    """Set (or, with ``url=None``, remove) the webhook of a registered client."""
    from sqlalchemy import text

    with db.begin() as conn:
        known = conn.execute(
            text("SELECT 1 FROM client WHERE client_id = :c"), {"c": client_id}
        ).first()
        if known is None:
            raise NotFound(f"no client {client_id}")
        conn.execute(delete(client_webhook).where(client_webhook.c.client_id == client_id))
        if url is not None:
            row = {
                "client_id": client_id,
                "url": check_url(url, allow_http=allow_http),
                "created_at": stamp(utc_now()),
            }
            conn.execute(
                insert(client_webhook).values(**row, seal=seals.seal("client_webhook", row))
            )


@dataclass(frozen=True)
class DeliveryRun:
    delivered: int = 0
    retried: int = 0
    given_up: int = 0


def backoff(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempts + 1``: 30 s doubling, at most 6 h, ±20 % jitter."""
    base = min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0), LONGEST_WAIT)
    return float(base * (0.8 + 0.4 * rand()))


class WebhookDispatcher:
    def __init__(
        self,
        db: Engine,
        ledger: Ledger,
        key: Ed25519PrivateKey,
        policy_version: Callable[[], str],
        seals: RowSeals,
        *,
        timeout: float = 5.0,
        max_attempts: int = 10,
        allow_http: bool = False,
        clock: Callable[[], datetime] = utc_now,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._key = key
        self._seals = seals
        self._version = policy_version
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._allow_http = allow_http
        self._clock = clock
        self._transport = transport

    @property
    def public_key(self) -> str:
        return public_key_text(self._key.public_key())

    def run_once(self, limit: int = 50) -> DeliveryRun:
        now = self._clock()
        at = stamp(now)
        with self._db.connect() as conn:
            due = conn.execute(
                select(
                    signal_delivery,
                    client_webhook.c.url,
                    client_webhook.c.created_at.label("webhook_created_at"),
                    client_webhook.c.seal.label("webhook_seal"),
                )
                .join(
                    client_webhook,
                    client_webhook.c.client_id == signal_delivery.c.client_id,
                    isouter=True,
                )
                .where(
                    signal_delivery.c.status == "pending",
                    signal_delivery.c.next_attempt_at <= at,
                )
                .order_by(signal_delivery.c.next_attempt_at)
                .limit(limit)
            ).all()
        delivered = retried = given_up = 0
        if not due:
            return DeliveryRun()
        with httpx.Client(
            timeout=self._timeout, transport=self._transport, follow_redirects=False
        ) as http:
            for row in due:
                if not self._claim(row.id, row.next_attempt_at, now):
                    continue  # another worker has it
                attempts = row.attempts + 1
                if row.url and not self._sealed(row):
                    # Redirected, or a text the gateway did not queue: never signed or sent.
                    log.error("registry.seal_mismatch", table="signal_delivery")
                    self._finish(row, "failed", attempts, "fails its seal (ADR 0017)", now)
                    given_up += 1
                    continue
                error = self._send(http, row) if row.url else "no webhook configured"
                if error is None:
                    self._finish(row, "delivered", attempts, "", now)
                    delivered += 1
                elif attempts >= self._max_attempts or not row.url:
                    self._finish(row, "failed", attempts, error, now)
                    given_up += 1
                else:
                    wait = timedelta(seconds=backoff(attempts))
                    with self._db.begin() as conn:
                        conn.execute(
                            update(signal_delivery)
                            .where(signal_delivery.c.id == row.id)
                            .values(
                                attempts=attempts,
                                next_attempt_at=stamp(now + wait),
                                last_error=error[:200],
                            )
                        )
                    retried += 1
        return DeliveryRun(delivered, retried, given_up)

    def _sealed(self, row: Any) -> bool:
        """The webhook and the queued notification both match their seals."""
        hook = {
            "client_id": row.client_id,
            "url": row.url,
            "created_at": row.webhook_created_at,
            "seal": row.webhook_seal,
        }
        return self._seals.check("client_webhook", hook) and self._seals.check(
            "signal_delivery", row._mapping
        )

    def _claim(self, delivery_id: str, seen: str, now: datetime) -> bool:
        with self._db.begin() as conn:
            result = conn.execute(
                update(signal_delivery)
                .where(
                    and_(
                        signal_delivery.c.id == delivery_id,
                        signal_delivery.c.status == "pending",
                        signal_delivery.c.next_attempt_at == seen,
                    )
                )
                .values(next_attempt_at=stamp(now + LEASE))
            )
            return bool(result.rowcount)

    def _send(self, http: httpx.Client, row: Any) -> str | None:
        try:
            check_url(row.url, allow_http=self._allow_http)
        except InvalidRequest:
            return "the webhook URL is not acceptable"
        body = row.payload.encode()
        timestamp = int(self._clock().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": row.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, row.id, timestamp, body),
            "user-agent": "zorg-veiligheid-gateway-webhooks",
        }
        try:
            response = http.post(row.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"transport: {exc.__class__.__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"status {response.status_code}"

    def _finish(self, row: Any, status: str, attempts: int, error: str, now: datetime) -> None:
        outcome: Outcome = "permit" if status == "delivered" else "deny"
        body: dict[str, Any] = {
            "match": row.match_id,
            "client_id": row.client_id,
            "delivery": row.id,
            "attempts": attempts,
            "status": status,
        }
        if error:
            body["error"] = error[:200]
        facts = Facts("signal.notify", self._version(), "", "", "", outcome, review=False)
        self._ledger.append(Record(facts=facts, subject="", body=body))
        with self._db.begin() as conn:
            conn.execute(
                update(signal_delivery)
                .where(signal_delivery.c.id == row.id)
                .values(status=status, attempts=attempts, last_error=error[:200])
            )
        log.info("signals.webhook", status=status, attempts=attempts, client=row.client_id)


def new_delivery_id() -> str:
    return "msg_" + secrets.token_hex(12)
