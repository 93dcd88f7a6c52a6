"""Signals: "we are involved" registrations, their matches, and a case started from a match.

A BSN only ever travels in a request body; ids in paths are random. docs/signals.md.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Response

from gateway.api.deps import GatewayDep, Requester
from gateway.api.docs import AUTHENTICATED, problems
from gateway.api.routers.cases import body_stage
from gateway.api.schemas import (
    CaseCreated,
    CaseFromMatch,
    MatchList,
    MatchNotice,
    SignalCreate,
    SignalList,
    SignalRegistered,
    SignalView,
    WebhookKey,
)
from gateway.bsn import Bsn
from gateway.signals.reading import MAX_PAGE

router = APIRouter(prefix="/signals", tags=["signals"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")]
SignalPath = Annotated[str, Path(pattern=r"^sig-[0-9a-f]{20}$", description="A signal id.")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="From the previous page's `_links.next`; absent for the first page.",
    ),
]
MatchPath = Annotated[str, Path(pattern=r"^match-[0-9a-f]{20}$", description="A match id.")]


def _links(gw: GatewayDep, path: str, limit: int, cursor: str | None) -> dict[str, object]:
    if cursor is None:
        return {"next": None}
    query = urlencode({"limit": limit, "cursor": cursor})
    return {"next": {"href": f"{gw.settings.resolved_public_url}/v1{path}?{query}"}}


@router.post(
    "",
    status_code=201,
    summary="Register that your organisation is involved with a person on an area of concern",
    description="Idempotent per (organisation, person, area): registering an active signal "
    "again answers 200 with the same signal. The answer lists the matches found, each "
    "revealing only the other organisation, its contact and the date (and the area where the "
    "policy allows). Refused (403 `signal-refused`, with reasons) where the policy does not let "
    "the organisation type and role signal on the area.",
    operation_id="registerSignal",
    responses={
        200: {"description": "The same signal was already active", "model": SignalRegistered},
        **problems(*AUTHENTICATED, 403, 503, s403="The policy does not permit this signal"),
    },
)
async def register_signal(
    body: SignalCreate, gw: GatewayDep, who: Requester, response: Response
) -> SignalRegistered:
    contact = body.contact.model_dump(exclude_none=True)
    done = await gw.signals.register(who, Bsn(body.bsn), body.area, contact, body.consent)
    if not done.created:
        response.status_code = 200
    return SignalRegistered.model_validate(
        {"signal": done.signal.view(), "created": done.created, "matches": done.matches}
    )


_TAMPERED = (
    "A signal or match failed its integrity check (ADR 0017): it was written behind the "
    "gateway's back; nothing is shown"
)


@router.get(
    "",
    summary="Your organisation's signals",
    operation_id="listSignals",
    responses=problems(*AUTHENTICATED, 503, s503=_TAMPERED),
)
def list_signals(
    gw: GatewayDep, who: Requester, limit: Limit = 50, cursor: Cursor = None
) -> SignalList:
    signals, nxt = gw.signals.reader.signals_for(who, limit, cursor)
    return SignalList.model_validate(
        {"signals": signals, "_links": _links(gw, "/signals", limit, nxt)}
    )


@router.get(
    "/matches",
    summary="Matches your organisation is part of (pull)",
    description="Oldest first; follow `_links.next` for the next page. Each match shows the "
    "other organisation, its contact and the date of its signal — the area only where the "
    "policy reveals it, nothing about the concern.",
    operation_id="listSignalMatches",
    responses=problems(*AUTHENTICATED, 503, s503=_TAMPERED),
)
def list_matches(
    gw: GatewayDep, who: Requester, limit: Limit = 50, cursor: Cursor = None
) -> MatchList:
    matches, nxt = gw.signals.reader.matches_for(who, limit, cursor)
    return MatchList.model_validate(
        {"matches": matches, "_links": _links(gw, "/signals/matches", limit, nxt)}
    )


@router.get(
    "/webhook-key",
    summary="The public key that signs webhook deliveries (Standard Webhooks, v1a)",
    operation_id="getWebhookKey",
    responses=problems(*AUTHENTICATED),
)
def webhook_key(gw: GatewayDep, who: Requester) -> WebhookKey:
    return WebhookKey(
        key=gw.webhooks.public_key, algorithm="Ed25519", signature_header="webhook-signature"
    )


@router.post(
    "/matches/{match_id}/case",
    status_code=201,
    summary="Start a case from a match (regisseur): both organisations take part, the person "
    "is linked",
    description="The BSN must be the person of the match (it is checked against the "
    "requester's own signal); the requester must be allowed to direct a case for the purpose.",
    operation_id="startCaseFromMatch",
    responses=problems(*AUTHENTICATED, 403, 404, 503),
)
def case_from_match(
    match_id: MatchPath, body: CaseFromMatch, gw: GatewayDep, who: Requester
) -> CaseCreated:
    case = gw.signal_cases.start(
        who, match_id, Bsn(body.bsn), body.purpose, body.relation, body.minor
    )
    return CaseCreated(case_id=case.id, purpose=case.purpose, stage=body_stage(case.stage))


@router.delete(
    "/{signal_id}",
    summary="Withdraw one of your organisation's signals",
    description="A withdrawn signal no longer matches; it is kept (inactive) for "
    "accountability until its keeping period ends. Withdrawing twice changes nothing.",
    operation_id="withdrawSignal",
    responses=problems(*AUTHENTICATED, 404, 503),
)
def withdraw_signal(signal_id: SignalPath, gw: GatewayDep, who: Requester) -> SignalView:
    return SignalView.model_validate(gw.signals.withdraw(who, signal_id).view())


__all__ = ["MatchNotice", "router"]
