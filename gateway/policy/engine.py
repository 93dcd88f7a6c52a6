"""The policy engine seam: one method, plain values in, a :class:`Decision` out.

An engine returns the raw decision document or raises :class:`EngineError`; :func:`decide` runs
it on the policy lane and turns *every* failure — an exception, a timeout, a full lane, a
malformed or missing result — into a denial with a reason code. Nothing above this module ever
sees an engine failure as anything but "deny".
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson
import structlog

from gateway.errors import EngineError, MalformedDecision
from gateway.lanes import Lane, LaneFull
from gateway.policy.decision import Decision, parse_decision
from gateway.typing import SourceId

log = structlog.get_logger(__name__)

MISSING: Any = object()
"""What an engine's optional ``recall(input)`` returns for an input it does not remember."""


class PolicyEngine(Protocol):
    """Evaluates ``data.sharing.decision`` for one input document.

    ``evaluate`` is called from the policy lane's worker threads, several at a time: an engine
    keeps whatever is not thread-safe per thread (the embedded engine: one interpreter each).
    """

    @property
    def version(self) -> str:
        """Hash of the policy set this engine evaluates; recorded with every decision."""
        ...

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        """Return the raw decision value (``None`` if undefined) or raise :class:`EngineError`."""
        ...


def recalled(
    recall: Callable[[Mapping[str, Any]], Any] | None,
    policy_input: Mapping[str, Any],
    **context: str,
) -> tuple[Any, str | None]:
    """An engine's remembered answer (gateway/policy/memo.py), on the calling thread: (the raw
    answer or :data:`MISSING`, None), or (None, the reason code of the failure) — a memo that
    tripped its fail-closed switch raises, and that is a denial like any engine failure."""
    try:
        return (recall(policy_input) if recall is not None else MISSING), None
    except Exception as exc:
        return None, _failure(exc, context)


async def ask(
    evaluate: Callable[[Mapping[str, Any]], Any],
    recall: Callable[[Mapping[str, Any]], Any] | None,
    lane: Lane,
    policy_input: Mapping[str, Any],
    timeout: float,
    queue_timeout: float,
    **context: str,
) -> tuple[Any, str | None]:
    """One evaluation of any entrypoint: (the raw answer, None), or (None, the reason code of
    the failure) — every failure, never an exception. ``timeout`` bounds the evaluation itself,
    ``queue_timeout`` the wait for a free policy worker; ``context`` goes into the log lines."""
    # A remembered answer is read here, on the event loop: a few microseconds, where a hop to
    # a policy worker and back costs far more.
    raw, failed = recalled(recall, policy_input, **context)
    if failed is not None or raw is not MISSING:
        return raw, failed
    try:
        raw = await lane.run(evaluate, policy_input, timeout=timeout, queue_timeout=queue_timeout)
    except Exception as exc:
        return None, _lane_failure(exc, timeout, context)
    return raw, None


def _lane_failure(exc: Exception, timeout: float, context: Mapping[str, str]) -> str:
    """The reason code (and the log line) of a policy-lane job that did not answer."""
    if isinstance(exc, TimeoutError):
        # NOTE: the lane retires the worker still evaluating, so an overrun cannot hold the
        # engine for the requests after this one.
        log.warning("policy.timeout", timeout_s=timeout, **context)
        return "engine_timeout"
    if isinstance(exc, LaneFull):
        log.warning("policy.busy", **context)
        return "engine_busy"
    return _failure(exc, context)


def _failure(exc: Exception, context: Mapping[str, str]) -> str:
    if isinstance(exc, EngineError):
        log.error("policy.engine_error", error=str(exc)[:200], **context)
    else:  # an engine bug is a denial too, never a release
        log.error("policy.engine_crashed", error=exc.__class__.__name__, **context)
    return "engine_error"


def remembered(
    engine: PolicyEngine, policy_input: Mapping[str, Any], source: SourceId
) -> Decision | None:
    """The decision from the engine's memory (gateway/policy/memo.py), on the calling thread —
    no task, no lane; None if the engine does not remember this input. A memo that tripped its
    fail-closed switch gives a denial, like any engine failure."""
    recall_json = getattr(engine, "recall_json", None)
    if recall_json is None:
        return None
    found, failed = recalled(recall_json, policy_input)
    if failed is not None:
        return Decision.deny(source, failed)
    if found is MISSING:
        return None
    # The answer's JSON: parsed once per distinct answer, not per request.
    return _parsed_once(found, source)


def remembered_each(
    engine: PolicyEngine,
    shared: Mapping[str, Any],
    requests: Sequence[Mapping[str, Any]],
    sources: Sequence[SourceId],
) -> list[Decision | None]:
    """:func:`remembered` for the inputs ``{**shared, "request": r}`` of one disclosure, one per
    source (an engine that can recall them together encodes ``shared`` once)."""
    each = getattr(engine, "recall_json_each", None)
    if each is None:
        return [
            remembered(engine, {**shared, "request": r}, s)
            for r, s in zip(requests, sources, strict=True)
        ]
    try:
        found = each(shared, requests)
    except Exception as exc:  # a tripped memo: a denial for every source, like any failure
        failed = _failure(exc, {})
        return [Decision.deny(s, failed) for s in sources]
    return [
        None if answer is MISSING else _parsed_once(answer, s)
        for answer, s in zip(found, sources, strict=True)
    ]


async def decide(
    engine: PolicyEngine,
    lane: Lane,
    policy_input: Mapping[str, Any],
    source: SourceId,
    timeout: float,
    queue_timeout: float,
) -> Decision:
    """Evaluate and validate; any failure is a denial (fail closed)."""
    found = remembered(engine, policy_input, source)
    if found is not None:
        return found
    return await evaluated(engine, lane, policy_input, source, timeout, queue_timeout)


async def evaluated(
    engine: PolicyEngine,
    lane: Lane,
    policy_input: Mapping[str, Any],
    source: SourceId,
    timeout: float,
    queue_timeout: float,
) -> Decision:
    """:func:`decide` for an input :func:`remembered` did not answer: the engine, on the lane."""
    recall = None if hasattr(engine, "recall_json") else getattr(engine, "recall", None)
    raw, failed = await ask(engine.evaluate, recall, lane, policy_input, timeout, queue_timeout)
    if failed is not None:
        return Decision.deny(source, failed)
    return _parsed(raw, source)[0]


class _Failed:
    """An evaluation in a batch that raised: the exception, kept for its reason code."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _evaluate_each(
    evaluate: Callable[[Mapping[str, Any]], Any],
    inputs: Sequence[Mapping[str, Any]],
    answers: list[Any],
) -> None:
    """On a policy worker: each input in turn, its answer (or :class:`_Failed`) appended to
    ``answers`` as soon as it is known, so that a caller who stops waiting still has every
    answer given before the overrun."""
    for policy_input in inputs:
        try:
            answers.append(evaluate(policy_input))
        except Exception as exc:  # this input fails alone
            answers.append(_Failed(exc))


async def evaluated_each(
    engine: PolicyEngine,
    lane: Lane,
    inputs: Sequence[Mapping[str, Any]],
    sources: Sequence[SourceId],
    timeout: float,
    queue_timeout: float,
) -> list[Decision]:
    """:func:`evaluated` for the inputs of one request that the engine did not remember, in at
    most as many jobs on the policy lane as it has workers: evaluations run in parallel as
    before (the engine releases the GIL), but a request takes that many queue slots instead of
    one a source (a burst of first-seen family overviews took the queue's slots seven at a time
    and was refused as ``engine_busy``). ``timeout`` bounds each job: the inputs a job answered
    before it ran out keep their answers, the rest are denied ``engine_timeout``. An input
    whose evaluation raises is denied alone."""
    if len(inputs) == 1:
        return [await evaluated(engine, lane, inputs[0], sources[0], timeout, queue_timeout)]

    async def job(part: Sequence[Mapping[str, Any]], named: Sequence[SourceId]) -> list[Decision]:
        answers: list[Any] = []
        reason: str | None = None
        try:
            await lane.run(
                _evaluate_each,
                engine.evaluate,
                part,
                answers,
                timeout=timeout,
                queue_timeout=queue_timeout,
            )
        except Exception as exc:
            reason = _lane_failure(exc, timeout, {})
        done = answers[: len(part)]  # a snapshot: a retired worker may still append
        decisions = []
        for n, source in enumerate(named):
            if n >= len(done):
                decisions.append(Decision.deny(source, reason or "engine_error"))
            elif isinstance(done[n], _Failed):
                failed = _failure(done[n].error, {"source": source})
                decisions.append(Decision.deny(source, failed))
            else:
                decisions.append(_parsed(done[n], source)[0])
        return decisions

    jobs = min(len(inputs), lane.workers)
    cuts = [len(inputs) * j // jobs for j in range(jobs + 1)]
    parts = await asyncio.gather(
        *(job(inputs[a:b], sources[a:b]) for a, b in itertools.pairwise(cuts))
    )
    return [decision for part in parts for decision in part]


def _parsed(raw: Any, source: SourceId) -> tuple[Decision, bool]:
    """The decision in an answer, and whether it is the policy's own (False: the denial that
    stands in for an undefined or malformed answer)."""
    if raw is None:
        return Decision.deny(source, "policy_undefined"), False
    try:
        return parse_decision(raw, source), True
    except MalformedDecision as exc:
        log.error("policy.malformed_decision", source=source, error=str(exc))
        return Decision.deny(source, "malformed_decision"), False


_PARSED: dict[tuple[bytes, str], Decision] = {}
_PARSED_KEPT = 8192


def _parsed_once(answer: bytes, source: SourceId) -> Decision:
    """The decision in a remembered answer, for ``source``: one :class:`Decision` object per
    (answer, source) — a decision is immutable, and the seven a family overview needs were
    parsed again on every request. Bounded; an undefined or malformed answer is parsed (and
    logged) each time, never kept."""
    key = (answer, source)
    found = _PARSED.get(key)
    if found is None:
        found, own = _parsed(orjson.loads(answer), source)
        if own:
            if len(_PARSED) >= _PARSED_KEPT:
                _PARSED.clear()  # bounded: a new policy version's answers replace the old ones
            _PARSED[key] = found
    return found
