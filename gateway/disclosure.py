"""The disclosure core: decide per source, ledger the decision, then fetch and transform.

The order is the product's promise (DOMAIN rules 1, 4 and 9):

1. check the request's shape against the catalogue (bounded before any policy work);
2. build one policy input per source from the verified principal and the case registry;
3. decide every source on the policy lane (any engine failure is a denial);
4. keep only granted fields that the catalogue says exist and are not `geheim`;
5. append the ledger entry — if that fails, raise and release nothing;
6. only then fetch the allowed projection from each allowed source, each on its own lane (or,
   for a connector with an async path, as a coroutine under its own concurrency bound; or, for
   a local source that answers without waiting, on the event loop itself — ADR 0015);
7. apply the chosen transform to each value and answer.

A requester whose organisation does not take part in the case (or asks about a case that does
not exist) is an *outsider*: it gets one answer, the same for an unknown case, someone else's
case and a closed case of others, after the same work (one policy decision, one ledger entry);
the exact reasons go only into the sealed ledger body.

The core works on plain values; the engine, the ledger, the connectors and the lanes come in
as arguments.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import structlog

from connectors.interface import (
    AsyncConnector,
    Connector,
    LocalConnector,
    WouldWait,
    asynchronous,
    local,
)
from gateway import clock
from gateway.auth.principal import Principal
from gateway.bsn import Bsn
from gateway.cases.registry import CaseContext, SubjectContext
from gateway.catalog import Catalog
from gateway.errors import (
    ConnectorError,
    DisclosureDenied,
    InvalidRequest,
    LedgerUnavailable,
    PolicySuperseded,
    Problem,
    TransformError,
)
from gateway.lanes import Lane, LaneFull, within
from gateway.ledger.entry import Facts, Outcome
from gateway.ledger.writer import Ledger, Receipt, Record
from gateway.policy.decision import Decision
from gateway.policy.engine import evaluated_each, remembered_each
from gateway.policy.snapshot import ActivePolicy, PolicySnapshot
from gateway.transforms import apply
from gateway.typing import FieldName, SourceId, Urgency

log = structlog.get_logger(__name__)

NO_SOURCE = SourceId("(geen bron)")
"""The one source an outsider's request is decided for: the request is still decided (and
denied) and ledgered, without the work or the answer depending on the case's purpose."""

OUTSIDER_REASON = "no_access_to_case"
"""The only reason an outsider is given, whatever the exact one (docs/decision.md)."""

SourceStatus = Literal["released", "denied", "no_record", "error"]


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
    span_id: str | None = None
    """This request's span (as answered in ``traceparent``)."""
    parent_span_id: str | None = None
    """The caller's span from its ``traceparent``, if it sent one (LDV / ADL parent span)."""

    @property
    def justified(self) -> bool:
        return bool(self.justification and self.justification.strip())


@dataclass(frozen=True)
class SourceResult:
    source: SourceId
    decision: Decision
    status: SourceStatus
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


@dataclass(frozen=True)
class Lanes:
    """Where each kind of blocking work runs (see gateway.lanes)."""

    policy: Lane
    ledger: Lane
    sources: Mapping[str, Lane]

    def close(self) -> None:
        for lane in (self.policy, self.ledger, *self.sources.values()):
            lane.close()


def check_request(request: DisclosureRequest, catalog: Catalog) -> None:
    """Bound the request by the (public) catalogue before any policy work; every problem is
    listed. Only catalogue names are echoed in a location; anything else is ``*``."""
    problems: list[Problem] = []
    known = set(catalog.sources)
    named = request.sources
    if named is not None:
        if len(set(named)) != len(named):
            problems.append(Problem("/sources", "names a source more than once"))
        for i, source in enumerate(named):
            if source not in known:
                problems.append(Problem(f"/sources/{i}", "not a source in the catalogue"))
    for source, wanted in request.fields.items():
        if source not in known:
            problems.append(Problem("/fields/*", "not a source in the catalogue"))
            continue
        where = f"/fields/{source}"
        if named is not None and source not in named:
            problems.append(Problem(where, "names a source that is not in `sources`"))
        if len(set(wanted)) != len(wanted):
            problems.append(Problem(where, "names a field more than once"))
        offered = catalog.fields(source)
        if len(wanted) > len(offered):
            problems.append(
                Problem(where, f"names more fields than the source offers ({len(offered)})")
            )
        problems += [
            Problem(f"{where}/{i}", "not a field this source offers")
            for i, name in enumerate(wanted)
            if name not in offered
        ]
    if problems:
        raise InvalidRequest(problems)


class _Declined:
    """The local path did not answer (the fetch goes to the source's lane)."""


_DECLINED = _Declined()


@dataclass
class DisclosureService:
    policy: ActivePolicy
    ledger: Ledger
    connectors: Mapping[str, Connector]
    lanes: Lanes
    policy_timeout: float = 1.0
    policy_queue_timeout: float = 2.0
    ledger_timeout: float = 5.0
    connector_timeout: float = 3.0
    connector_concurrency: int = 4
    """Calls in flight to one source on the async path (the thread path: its lane's size)."""
    today: Callable[[], date] = clock.today
    _gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
        field(default_factory=weakref.WeakKeyDictionary)
    )
    local_pause: float = 30.0
    """Seconds a source's local path stays off after it declined (WouldWait): its fetches go
    to its lane meanwhile, instead of each trying the loop first."""
    _direct: dict[str, AsyncConnector] = field(init=False, default_factory=dict)
    """The connectors with an async path, found once (not per request)."""
    _local: dict[str, LocalConnector] = field(init=False, default_factory=dict)
    """The connectors with a local path (checked once, here: at start-up)."""
    _local_off: dict[str, float] = field(init=False, default_factory=dict)
    """Until when (monotonic) a source's local path is off."""

    def __post_init__(self) -> None:
        for source, connector in self.connectors.items():
            direct = asynchronous(connector)
            if direct is not None:
                self._direct[source] = direct
            elif (here := local(connector)) is not None:
                self._local[source] = here

    async def disclose(
        self,
        principal: Principal,
        request: DisclosureRequest,
        case: CaseContext,
        subject: SubjectContext,
    ) -> DisclosureResult:
        # One snapshot for the whole request: a policy reload meanwhile changes nothing here —
        # except that a decision the ledger refuses as superseded (a newer version was activated
        # before it could be recorded; nothing was fetched) is decided once more under the
        # version now in force, if this process has it already.
        snap = self.policy.current
        try:
            return await self._disclose(snap, principal, request, case, subject)
        except PolicySuperseded:
            fresh = self.policy.current
            if fresh.version == snap.version:
                raise
            log.info("policy.decided_again", version=fresh.version)
            return await self._disclose(fresh, principal, request, case, subject)

    async def _disclose(
        self,
        snap: PolicySnapshot,
        principal: Principal,
        request: DisclosureRequest,
        case: CaseContext,
        subject: SubjectContext,
    ) -> DisclosureResult:
        check_request(request, snap.catalog)
        outsider = not case.found or principal.oin not in case.participants
        sources = [NO_SOURCE] if outsider else self._sources(snap, request, case)
        raw = await self._decisions(snap, principal, request, case, subject, sources)
        decisions = [self._safety_net(snap, d) for d in raw]
        outcome = _outcome(decisions)
        review = any(d.needs_review for d in decisions)

        facts = Facts(
            action="disclosure.decision",
            policy_version=snap.version,
            requester_oin=principal.oin,
            purpose=case.purpose or "(onbekend)",
            case_id=case.id,
            outcome=outcome,
            review=review,
        )
        record = Record(
            facts,
            subject=subject.pseudonym,
            body=_ledger_body(principal, request, case, subject, decisions),
        )
        # Rule 9: no ledger, no data. LedgerUnavailable propagates; nothing below runs.
        receipt = await self._append(record)
        log.info(
            "disclosure.decided",
            case_id=case.id,
            outcome=outcome,
            sources=len(decisions),
            ledger_seq=receipt.seq,
            review=review,
        )
        if outsider:
            raise DisclosureDenied(
                "the case is not one your organisation takes part in",
                extra={"receipt": receipt.as_dict(), "reasons": [OUTSIDER_REASON], "sources": []},
            )
        if outcome == "deny":
            raise DisclosureDenied(
                "the policy released no field from any requested source",
                extra={
                    "receipt": receipt.as_dict(),
                    "reasons": ["no_field_released"],
                    "sources": [
                        source_view(SourceResult(d.source, d, "denied", withheld=d.withheld))
                        for d in decisions
                    ],
                },
            )

        results = await asyncio.gather(*(self._release(snap, request, d) for d in decisions))
        # What each source actually returned, linked to the decision, ledgered before the
        # answer leaves (rule 9 again: if this cannot be recorded, nothing is returned).
        await self._append(
            replace(
                record,
                facts=replace(facts, action="disclosure.fetch"),
                body={
                    "decision_entry": receipt.entry_hash,
                    "sources": [_fetched(r) for r in results],
                    "trace_id": request.trace_id,
                    "span_id": request.span_id,
                    "parent_span_id": request.parent_span_id,
                },
            )
        )
        return DisclosureResult(
            case_id=case.id,
            purpose=case.purpose,
            stage=case.stage,
            policy_version=snap.version,
            receipt=receipt,
            sources=tuple(results),
            review=review,
        )

    def _sources(
        self, snap: PolicySnapshot, request: DisclosureRequest, case: CaseContext
    ) -> list[SourceId]:
        if request.sources:
            return list(request.sources)
        # Default: the family overview — every source of the case's purpose.
        return snap.catalog.purpose_sources(case.purpose) or [NO_SOURCE]

    async def _decisions(
        self,
        snap: PolicySnapshot,
        principal: Principal,
        request: DisclosureRequest,
        case: CaseContext,
        subject: SubjectContext,
        sources: Sequence[SourceId],
    ) -> list[Decision]:
        """One decision per source. Remembered ones are read here, on the event loop, one
        after the other (microseconds each: no task per source); only the rest go to the policy
        lane, in one job a policy worker."""
        views = {
            "requester": principal.policy_view(),
            "case": case.policy_view(),
            "subject": subject.policy_view(),
        }
        requests = [
            {
                "source": source,
                # A set of names (unique, validated): given in one order, so that a client's
                # choice of order cannot make the memo's keys (and its misses) many.
                "fields": sorted(request.fields.get(source, ())),
                "urgency": request.urgency,
                "justified": request.justified,
            }
            for source in sources
        ]
        found = remembered_each(snap.engine, views, requests, sources)
        missing = [n for n, decision in enumerate(found) if decision is None]
        if missing:
            asked = await evaluated_each(
                snap.engine,
                self.lanes.policy,
                [{**views, "request": requests[n]} for n in missing],
                [sources[n] for n in missing],
                self.policy_timeout,
                self.policy_queue_timeout,
            )
            for n, decision in zip(missing, asked, strict=True):
                found[n] = decision
        return [d for d in found if d is not None]

    async def _append(self, record: Record) -> Receipt:
        if self.ledger.committer is not None:
            # Sealed and committed by the committer's thread with its group; this request only
            # waits on the event loop (no ledger worker thread of its own).
            loop = asyncio.get_running_loop()
            waiter = self.ledger.submit_on(record, loop)
            if not await within(loop, waiter, self.ledger_timeout):
                waiter.cancel()  # not written if its group has not been taken yet
                raise LedgerUnavailable("the access ledger could not record the decision")
            return waiter.result()
        try:
            return await self.lanes.ledger.run(
                self.ledger.append, record, timeout=self.ledger_timeout
            )
        except (TimeoutError, LaneFull) as exc:
            raise LedgerUnavailable("the access ledger could not record the decision") from exc

    def _safety_net(self, snap: PolicySnapshot, decision: Decision) -> Decision:
        """Second line of defence: never release an unknown or `geheim` field, whatever the
        engine said. A policy bug shows up as a withheld field and an error log, not a leak."""
        bad = [f for f in decision.fields if not snap.catalog.releasable(decision.source, f)]
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

    async def _release(
        self, snap: PolicySnapshot, request: DisclosureRequest, decision: Decision
    ) -> SourceResult:
        if not decision.allow:
            return SourceResult(decision.source, decision, "denied", withheld=decision.withheld)
        connector = self.connectors.get(decision.source)
        lane = self.lanes.sources.get(decision.source)
        if connector is None or lane is None:
            return self._failed(decision, "no connector is configured for this source")
        allowed = sorted(decision.fields)
        direct = self._direct.get(decision.source)
        record: Mapping[str, Any] | None
        try:
            if direct is not None:
                record = await self._fetch_async(decision.source, direct, request.bsn, allowed)
            elif not isinstance(
                here := self._fetch_local(decision.source, request.bsn, allowed), _Declined
            ):
                record = here
            else:
                record = await lane.run(
                    connector.fetch, request.bsn, allowed, timeout=self.connector_timeout
                )
        except TimeoutError:
            return self._failed(decision, "the source did not answer in time")
        except LaneFull:
            return self._failed(decision, "the source is busy")
        except ConnectorError as exc:
            return self._failed(decision, str(exc))
        except Exception as exc:
            log.error("connector.crashed", source=decision.source, error=exc.__class__.__name__)
            return self._failed(decision, "the source connector failed")
        if record is None:
            return SourceResult(decision.source, decision, "no_record", withheld=decision.withheld)
        return self._transform(snap, decision, record)

    def _fetch_local(
        self, source: str, bsn: Bsn, fields: list[FieldName]
    ) -> Mapping[str, Any] | _Declined | None:
        """The local path, on the event loop: no thread hop for a read that takes less time than
        the hop (ADR 0015). ``_DECLINED`` where the source has none, has it paused, or declines
        this fetch (which pauses it for ``local_pause`` seconds)."""
        connector = self._local.get(source)
        if connector is None:
            return _DECLINED
        off = self._local_off.get(source)
        if off is not None:
            if time.monotonic() < off:
                return _DECLINED
            # Two event loops in one process (tests) may both end the pause: not a failure.
            self._local_off.pop(source, None)
        try:
            return connector.fetch_local(bsn, fields)
        except WouldWait:
            self._local_off[source] = time.monotonic() + self.local_pause
            log.warning("connector.local_paused", source=source, seconds=self.local_pause)
            return _DECLINED

    async def _fetch_async(
        self, source: str, connector: AsyncConnector, bsn: Bsn, fields: list[FieldName]
    ) -> Mapping[str, Any] | None:
        """The async path: at most ``connector_concurrency`` calls in flight to this source;
        the timeout covers the wait for a turn and the call, and cancels the call."""
        gates = self._gates.setdefault(asyncio.get_running_loop(), {})
        gate = gates.get(source)
        if gate is None:
            gate = gates[source] = asyncio.Semaphore(self.connector_concurrency)
        async with asyncio.timeout(self.connector_timeout), gate:
            return await connector.afetch(bsn, fields)

    def _failed(self, decision: Decision, message: str) -> SourceResult:
        log.warning("connector.error", source=decision.source, error=message[:200])
        return SourceResult(
            decision.source, decision, "error", withheld=decision.withheld, error=message
        )

    def _transform(
        self, snap: PolicySnapshot, decision: Decision, record: Mapping[str, Any]
    ) -> SourceResult:
        specs = snap.catalog.fields(decision.source)
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


def source_view(result: SourceResult) -> dict[str, Any]:
    """One source's part of an answer (the 200 body and the 403 problem share it)."""
    grants = result.decision.fields
    return {
        "source": result.source,
        "status": result.status,
        "fields": {
            name: {
                "value": value,
                "transform": grants[name].transform,
                "legal_basis": grants[name].basis,
                "break_glass": grants[name].break_glass,
            }
            for name, value in result.values.items()
        },
        "withheld": dict(result.withheld),
        "reasons": list(result.decision.reasons),
        "obligations": [dict(o) for o in result.decision.obligations],
        "error": result.error,
    }


def _fetched(result: SourceResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "status": result.status,
        "released": sorted(result.values),
        "withheld": dict(sorted(result.withheld.items())),
        "error": result.error,
    }


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
    case: CaseContext,
    subject: SubjectContext,
    decisions: Sequence[Decision],
) -> dict[str, Any]:
    """The encrypted part: who exactly, what was asked, the complete policy input (so the
    decision can be replayed exactly), and each decision with its reasons."""
    return {
        "requester": principal.ledger_view(),
        "input": {
            "requester": principal.policy_view(),
            "case": case.policy_view(),
            "subject": subject.policy_view(),
            "request": {"urgency": request.urgency, "justified": request.justified},
        },
        "request": {
            "sources": list(request.sources) if request.sources else None,
            "fields": {s: list(f) for s, f in request.fields.items()},
            "urgency": request.urgency,
            "justification": request.justification,
        },
        "subject": {"relation": subject.relation, "minor": subject.minor, "linked": subject.linked},
        "decisions": [d.ledger_json for d in decisions],
        "trace_id": request.trace_id,
        "span_id": request.span_id,
        "parent_span_id": request.parent_span_id,
    }
