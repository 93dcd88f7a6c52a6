"""Webhook deliveries to a real local receiver: signatures, retries with back-off, giving up,
and a dead webhook that never holds up a registration."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import utc_now
from gateway.errors import InvalidRequest, NotFound
from gateway.signals.webhooks import (
    WebhookDispatcher,
    backoff,
    check_url,
    set_webhook,
    verify_delivery,
)
from gateway.testing import TestGateway, free_port, make_test_gateway, synthetic_bsn

CONTACT = {"name": "Team Wonen"}


class Receiver(ThreadingHTTPServer):
    """A partner's webhook endpoint: records every delivery, answers with the next status."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/gateway"


@pytest.fixture
def home_gw(tmp_path: Path) -> Iterator[TestGateway]:
    gw = make_test_gateway(tmp_path, webhook_allow_http=True)
    yield gw
    gw.close()


class Clock:
    def __init__(self) -> None:
        # A second ahead: deliveries are stamped (to the second) with the real time when the
        # match is stored, after this clock was made.
        self.now = utc_now() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def dispatcher(gw: TestGateway, clock: Clock, attempts: int = 10) -> WebhookDispatcher:
    g = gw.gateway
    return WebhookDispatcher(
        g.db,
        g.ledger,
        g.keys.webhook_signing,
        lambda: g.active.current.version,
        g.seals,
        allow_http=True,
        clock=clock,
        max_attempts=attempts,
        timeout=2.0,
    )


def match(gw: TestGateway, n: int) -> dict[str, Any]:
    bsn = synthetic_bsn(n)
    for client, area in (("woco-consulent", "schulden"), ("zaanstad-regie", "overlast")):
        body = {"bsn": bsn, "area": area, "contact": CONTACT}
        r = gw.client.post("/v1/signals", json=body, headers=gw.auth(client))
        assert r.status_code == 201
    (notice,) = gw.client.get("/v1/signals/matches", headers=gw.auth("woco-consulent")).json()[
        "matches"
    ]
    return dict(notice)


def test_deliveries_are_signed_retried_with_back_off_and_ledgered(home_gw: TestGateway) -> None:
    gw, clock = home_gw, Clock()
    receiver = Receiver([500, 503, 204])
    set_webhook(gw.gateway.db, gw.gateway.seals, "woco-consulent", receiver.url, allow_http=True)
    notice = match(gw, 1)
    hooks = dispatcher(gw, clock)
    assert hooks.run_once().retried == 1
    assert hooks.run_once().retried == 0  # not due yet: it waits
    clock.now += timedelta(hours=1)
    assert hooks.run_once().retried == 1
    clock.now += timedelta(hours=1)
    assert hooks.run_once().delivered == 1
    clock.now += timedelta(days=1)
    assert hooks.run_once().delivered == 0  # delivered once, never again

    key = gw.client.get("/v1/signals/webhook-key", headers=gw.auth("woco-consulent")).json()
    assert key["algorithm"] == "Ed25519" and key["key"].startswith("whpk_")
    assert len(receiver.received) == 3
    ids = {headers["webhook-id"] for headers, _ in receiver.received}
    assert len(ids) == 1  # one message, retried under its own id (receivers deduplicate)
    for headers, body in receiver.received:
        at = int(headers["webhook-timestamp"])
        assert verify_delivery(key["key"], headers, body, now=at)
        assert not verify_delivery(key["key"], headers, body + b" ", now=at)
        assert not verify_delivery(key["key"], headers, body, now=at + 3600)  # replayed late
    payload = json.loads(receiver.received[-1][1])
    assert payload == {"type": "signal.match", "data": notice}
    assert synthetic_bsn(1).encode() not in receiver.received[-1][1]
    notes = [e for e in gw.new_entries() if e.header.facts.action == "signal.notify"]
    assert [e.header.facts.outcome for e in notes] == ["permit"]
    assert gw.ledgered(notes[0].entry_hash)["attempts"] == 3


def test_another_key_does_not_verify(home_gw: TestGateway, tmp_path: Path) -> None:
    receiver = Receiver([204])
    set_webhook(
        home_gw.gateway.db, home_gw.gateway.seals, "woco-consulent", receiver.url, allow_http=True
    )
    match(home_gw, 2)
    dispatcher(home_gw, Clock()).run_once()
    ((headers, body),) = receiver.received
    other = make_test_gateway(tmp_path / "other")
    try:
        foreign = other.gateway.webhooks.public_key
    finally:
        other.close()
    assert not verify_delivery(foreign, headers, body, now=int(headers["webhook-timestamp"]))


def test_a_dead_webhook_is_given_up_and_never_blocks_registration(home_gw: TestGateway) -> None:
    gw, clock = home_gw, Clock()
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    set_webhook(gw.gateway.db, gw.gateway.seals, "woco-consulent", dead, allow_http=True)
    set_webhook(gw.gateway.db, gw.gateway.seals, "zaanstad-regie", dead, allow_http=True)
    match(gw, 3)  # registration answered; the deliveries wait in the outbox
    hooks = dispatcher(gw, clock, attempts=2)
    assert hooks.run_once().retried == 2
    clock.now += timedelta(hours=7)
    assert hooks.run_once().given_up == 2
    notes = [e for e in gw.new_entries() if e.header.facts.action == "signal.notify"]
    assert sorted(e.header.facts.outcome for e in notes) == ["deny", "deny"]
    assert "transport" in gw.ledgered(notes[0].entry_hash)["error"]
    # Pull still has the match.
    assert gw.client.get("/v1/signals/matches", headers=gw.auth("woco-consulent")).json()["matches"]


@pytest.mark.parametrize("tamper", ["redirect", "rewrite"])
def test_a_webhook_or_notification_changed_in_the_database_is_never_sent(
    home_gw: TestGateway, tamper: str
) -> None:
    # Whoever can write the database could point a client's webhook elsewhere, or have the
    # gateway sign and send a text of their choosing. Both fail their seals (ADR 0017).
    from sqlalchemy import text

    from gateway.errors import RegistryTampered
    from gateway.sealcheck import check_registry

    gw, clock = home_gw, Clock()
    receiver, elsewhere = Receiver([204]), Receiver([204])
    set_webhook(gw.gateway.db, gw.gateway.seals, "woco-consulent", receiver.url, allow_http=True)
    match(gw, 4)
    with gw.gateway.db.begin() as conn:
        if tamper == "redirect":
            conn.execute(text("UPDATE client_webhook SET url = :u"), {"u": elsewhere.url})
        else:
            conn.execute(text("""UPDATE signal_delivery SET payload = '{"type":"forged"}'"""))
    run = dispatcher(gw, clock).run_once()
    assert run.given_up == 1 and run.delivered == 0
    assert receiver.received == [] and elsewhere.received == []
    (note,) = [e for e in gw.new_entries() if e.header.facts.action == "signal.notify"]
    assert note.header.facts.outcome == "deny"
    assert "seal" in gw.ledgered(note.entry_hash)["error"]
    if tamper == "redirect":  # and the server would not start on it
        with pytest.raises(RegistryTampered):
            check_registry(gw.gateway.db, gw.gateway.seals)


def test_back_off_doubles_from_thirty_seconds_to_six_hours() -> None:
    assert [round(backoff(n, lambda: 0.5)) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30, lambda: 0.5) == 6 * 3600
    assert backoff(1, lambda: 0.0) == pytest.approx(24) and backoff(
        1, lambda: 1.0
    ) == pytest.approx(36)


def test_webhook_urls_are_checked(home_gw: TestGateway) -> None:
    with pytest.raises(InvalidRequest):
        check_url("http://partner.example/hook", allow_http=False)
    with pytest.raises(InvalidRequest) as info:
        check_url("https://user:pw@partner.example/hook#x", allow_http=False)
    assert {p.message for p in info.value.problems} >= {"must not carry credentials"}
    assert check_url("https://partner.example/hook", allow_http=False)
    with pytest.raises(NotFound):
        set_webhook(
            home_gw.gateway.db,
            home_gw.gateway.seals,
            "no-such-client",
            "https://x.example/",
            allow_http=False,
        )
