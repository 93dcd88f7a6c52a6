"""The disclosure core: decide per source, ledger the decision, then fetch and transform.

The order is the product's promise (DOMAIN rules 1, 4 and 9):

1. build one policy input per source from the verified principal and the case registry;
2. decide every source (any engine failure is a denial);
3. keep only granted fields that the catalogue says exist and are not `geheim`;
4. append the ledger entry — if that fails, raise and release nothing;
5. only then fetch the allowed projection from each allowed source, concurrently;
6. apply the chosen transform to each value and answer.

The core works on plain values; the engine, the ledger and the connectors come in as arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog

from connectors.interface import Connector, ConnectorError
from gateway.auth.principal import Principal
from gateway.bsn import Bsn
from gateway.cases.registry import CaseContext, SubjectContext
from gateway.catalog import Catalog
from gateway.errors import DisclosureDenied
from gateway.ledger.entry import Outcome
from gateway.ledger.store import Ledger, Receipt, Record
from gateway.policy.decision import Decision
from gateway.policy.engine import PolicyEngine, decide
from gateway.transforms import TransformError, apply
from gateway.typing import FieldName, SourceId, Urgency

log = structlog.get_logger(__name__)

NO_SOURCE = SourceId("(geen bron)")
"""Stands in for the source list when the case is unknown and none were named: the request
is still decided (and denied) and ledgered."""


@dataclass(frozen=True)
class DisclosureRequest:
    case_id: str
    bsn: Bsn
    sources: tuple[SourceId, ...] | None = None
    fields: Mapping[SourceId, tuple[FieldName, ...]] = field(default_factory=dict)
    urgency: Urgency = "regulier"
    justification: str | None = None
    trace_id: str | None = None
    """W3C trace id of the HTTP request, so the ledger entry can be joined to other logs."""

    @property
    def justified(self) -> bool:
        return bool(self.justification and self.justification.strip())


@dataclass(frozen=True)
class SourceResult:
    source: SourceId
    decision: Decision
    status: str
    """released | denied | no_record | error"""
    values: Mapping[FieldName, Any] = field(default_factory=dict)
    withheld: Mapping[FieldName, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class DisclosureResult:
    case_id: str
    purpose: str
    stage: str
    policy_version: str
    receipt: Receipt
    sources: tuple[SourceResult, ...]
    review: bool


@dataclass
class DisclosureService:
    engine: PolicyEngine
    ledger: Ledger
    connectors: Mapping[str, Connector]
    catalog: Catalog
    policy_timeout: float = 1.0
    connector_timeout: float = 3.0
    today: Callable[[], date] = date.today

    async def disclose(
        self,
        principal: Principal,
        request: DisclosureRequest,
        case: CaseContext,
        subject: SubjectContext,
    ) -> DisclosureResult:
        sources = self._sources(request, case)
        decisions = await asyncio.gather(
            *(self._decide(principal, request, case, subject, s) for s in sources)
        )
        decisions = [self._safety_net(d) for d in decisions]
        outcome = _outcome(decisions)
        review = any(d.needs_review for d in decisions)

        record = Record(
            policy_version=self.engine.version,
            requester_oin=principal.oin,
            purpose=case.purpose or "(onbekend)",
            case_id=case.id,
            subject=subject.pseudonym,
            outcome=outcome,
            review=review,
            body=_ledger_body(principal, request, subject, decisions),
        )
        # Rule 9: no ledger, no data. LedgerUnavailable propagates; nothing below runs.
        receipt = await asyncio.to_thread(self.ledger.append, record)
        log.info(
            "disclosure.decided",
            case_id=case.id,
            outcome=outcome,
            sources=len(decisions),
            ledger_seq=receipt.seq,
            review=review,
        )
        if outcome == "deny":
            raise DisclosureDenied(
                "the policy released no field from any requested source",
                extra={
                    "receipt": receipt.as_dict(),
                    "reasons": {d.source: list(d.reasons) for d in decisions},
                },
            )

        results = await asyncio.gather(*(self._release(request, d) for d in decisions))
        return DisclosureResult(
            case_id=case.id,
            purpose=case.purpose,
            stage=case.stage,
            policy_version=self.engine.version,
            receipt=receipt,
            sources=tuple(results),
            review=review,
        )

    def _sources(self, request: DisclosureRequest, case: CaseContext) -> list[SourceId]:
        if request.sources:
            return list(dict.fromkeys(request.sources))
        # Default: the family overview — every source of the case's purpose.
        return self.catalog.purpose_sources(case.purpose) or [NO_SOURCE]

    async def _decide(
        self,
        principal: Principal,
        request: DisclosureRequest,
        case: CaseContext,
        subject: SubjectContext,
        source: SourceId,
    ) -> Decision:
        policy_input = {
            "requester": principal.policy_view(),
            "case": case.policy_view(),
            "subject": subject.policy_view(),
            "request": {
                "source": source,
                "fields": list(request.fields.get(source, ())),
                "urgency": request.urgency,
                "justified": request.justified,
            },
        }
        return await decide(self.engine, policy_input, source, self.policy_timeout)

    def _safety_net(self, decision: Decision) -> Decision:
        """Second line of defence: never release an unknown or `geheim` field, whatever the
        engine said. A policy bug shows up as a withheld field and an error log, not a leak."""
        bad = [f for f in decision.fields if not self.catalog.releasable(decision.source, f)]
        if not bad:
            return decision
        log.error("policy.granted_unreleasable_field", source=decision.source, fields=bad)
        fields = {f: g for f, g in decision.fields.items() if f not in bad}
        withheld = {**decision.withheld, **{f: "not_releasable" for f in bad}}
        return Decision(
            source=decision.source,
            allow=bool(fields),
            fields=fields,
            withheld=withheld,
            reasons=decision.reasons if fields else (*decision.reasons, "no_field_released"),
            obligations=decision.obligations,
        )

    async def _release(self, request: DisclosureRequest, decision: Decision) -> SourceResult:
        if not decision.allow:
            return SourceResult(decision.source, decision, "denied", withheld=decision.withheld)
        connector = self.connectors.get(decision.source)
        if connector is None:
            return SourceResult(
                decision.source,
                decision,
                "error",
                withheld=decision.withheld,
                error="no connector is configured for this source",
            )
        allowed = sorted(decision.fields)
        try:
            record = await asyncio.wait_for(
                asyncio.to_thread(connector.fetch, request.bsn, allowed), self.connector_timeout
            )
        except TimeoutError:
            return self._failed(decision, "the source did not answer in time")
        except ConnectorError as exc:
            return self._failed(decision, str(exc))
        except Exception as exc:
            log.error("connector.crashed", source=decision.source, error=exc.__class__.__name__)
            return self._failed(decision, "the source connector failed")
        if record is None:
            return SourceResult(decision.source, decision, "no_record", withheld=decision.withheld)
        return self._transform(decision, record)

    def _failed(self, decision: Decision, message: str) -> SourceResult:
        log.warning("connector.error", source=decision.source, error=message[:200])
        return SourceResult(
            decision.source, decision, "error", withheld=decision.withheld, error=message
        )

    def _transform(self, decision: Decision, record: Mapping[str, Any]) -> SourceResult:
        specs = self.catalog.fields(decision.source)
        today = self.today()
        values: dict[FieldName, Any] = {}
        withheld = dict(decision.withheld)
        for name, grant in sorted(decision.fields.items()):
            # Only granted names are read from the record, so a connector that returned
            # more than it was asked for still cannot widen the response.
            try:
                values[name] = apply(grant.transform, record.get(name), specs[name], today)
            except TransformError:
                withheld[name] = "transform_failed"
        return SourceResult(decision.source, decision, "released", values=values, withheld=withheld)


def _outcome(decisions: Sequence[Decision]) -> Outcome:
    allowed = [d for d in decisions if d.allow]
    if not allowed:
        return "deny"
    if len(allowed) == len(decisions) and not any(d.withheld for d in decisions):
        return "permit"
    return "partial"


def _ledger_body(
    principal: Principal,
    request: DisclosureRequest,
    subject: SubjectContext,
    decisions: Sequence[Decision],
) -> dict[str, Any]:
    """The encrypted part: who exactly, what was asked, and each decision with its reasons."""
    return {
        "requester": {
            "client_id": principal.client_id,
            "oin": principal.oin,
            "org_type": principal.org_type,
            "role": principal.role,
            "user": principal.user,
        },
        "request": {
            "sources": list(request.sources) if request.sources else None,
            "fields": {s: list(f) for s, f in request.fields.items()},
            "urgency": request.urgency,
            "justification": request.justification,
        },
        "subject": {"relation": subject.relation, "minor": subject.minor, "linked": subject.linked},
        "decisions": [d.as_dict() for d in decisions],
        "trace_id": request.trace_id,
    }
