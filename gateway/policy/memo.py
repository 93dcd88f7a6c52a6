"""Memoised decisions: the engine's own answers, remembered per normalised input.

A decision is a pure function of its input and the policy version, so the answer for an input
seen before is the answer the engine gave then. The key is the input without the members no
policy module names (today the requester's pseudonymous ``user`` and the subject's
``relation``; checked in the policy text, and nothing is dropped if a module reads input members
without naming them), with the case id, OIN, participants and consents replaced by the facts the
policy reads of them (gateway/policy/abstraction.py, checked in the policy text too), in
canonical form. A snapshot's memo lives and dies with its policy version, so a reload can never
serve an old policy's answer.

Trust, but verify: every remembered answer's first hit, and a share of the later ones
(``verify_share``), is evaluated again by the engine, on the hit's own input, on a background
thread. Any difference is an alarm (``policy.memo_mismatch``) and trips a fail-closed switch:
from then on every evaluation raises :class:`EngineError` — a denial — until the gateway is
restarted or the policy reloaded.

An outsider's decision (no such case, or a case the requester does not take part in) is never
remembered: see :meth:`MemoEngine._keys`.
"""

from __future__ import annotations

import json
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import structlog

from gateway.errors import EngineError
from gateway.policy import abstraction
from gateway.policy.engine import MISSING, PolicyEngine
from gateway.policy.space import unnamed

log = structlog.get_logger(__name__)

_CANDIDATES = {("requester", "user"), ("subject", "relation")}
_SIGNAL = b"s"
"""Prefix of a signals decision's key: the two entrypoints never share an answer."""
_Evaluate = Callable[[Mapping[str, Any]], Any]
_BACKLOG = 256
"""Checks queued at most: under a burst of new keys the checker must not hold unbounded inputs."""


def droppable(modules: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """(part, member) pairs the policy cannot read (``space.unnamed``)."""
    names = unnamed(modules, [member for _, member in _CANDIDATES])
    return frozenset((part, member) for part, member in _CANDIDATES if member in names)


class MemoEngine:
    def __init__(
        self,
        engine: PolicyEngine,
        modules: Mapping[str, str],
        *,
        capacity: int = 100_000,
        verify_share: float = 0.01,
    ) -> None:
        self._engine = engine
        self._drop = droppable(modules)
        self._facts = abstraction.facts(modules)
        if self._facts != abstraction.FACTS:  # a policy that reads them otherwise: say so
            exact = sorted(abstraction.FACTS - self._facts)
            log.info("policy.memo_exact_keys", facts=sorted(self._facts), exact=exact)
        self._capacity = capacity
        self._verify_share = verify_share
        self._memo: OrderedDict[bytes, bytes] = OrderedDict()
        self._unchecked: set[bytes] = set()
        """Keys whose answer no hit has had evaluated again yet."""
        self._backlog = 0
        self._lock = threading.Lock()
        self._tripped = False
        self._checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memo-verify")
        self.hits = 0
        self.misses = 0

    @property
    def version(self) -> str:
        return self._engine.version

    @property
    def inner(self) -> PolicyEngine:
        """The engine whose answers are remembered."""
        return self._engine

    @property
    def tripped(self) -> bool:
        return self._tripped

    def explain(self, policy_input: Mapping[str, Any]) -> Any:
        explain = getattr(self._engine, "explain", None)
        return explain(policy_input) if explain is not None else None

    def key(self, policy_input: Mapping[str, Any]) -> bytes | None:
        """The key of a sharing decision (:meth:`_keys`); None: never remembered."""
        shared = {part: value for part, value in policy_input.items() if part != "request"}
        own = {"request": policy_input["request"]} if "request" in policy_input else {}
        return self._keys(shared, [own])[0]

    def _keys(
        self, shared: Mapping[str, Any], owns: Sequence[Mapping[str, Any]]
    ) -> list[bytes | None]:
        """The keys of the inputs ``{**shared, **own}``, in two parts joined by a newline: what
        the inputs share, encoded once, and each one's own ``request``. Neither part's JSON
        holds a raw newline, so the join is unambiguous.

        None for an **outsider's** input (no such case, or the requester does not take part):
        never remembered, so every outsider request costs the same engine evaluation and its
        time cannot tell an unknown case from someone else's. Remembered, the first question
        about each kind of case (purpose, stage, status) would be slower than the question
        about a case that does not exist — whose key is warm after one probe.

        Where the policy reads the case id, the requester's OIN, the participants and the
        consents only through their facts (gateway/policy/abstraction.py), the key holds the
        facts instead — ``a`` and a JSON array, where an exact key starts with ``{`` or ``j`` —
        so that every case shares its answers. An input not of the gateway's shape keeps its
        exact key."""
        if _outsider(shared):
            return [None] * len(owns)
        keys: list[bytes | None] = []
        exact: bytes | None = None
        found = abstraction.shared(shared, self._facts) if self._facts else None
        if found is not None:
            parts, participates = found
            abstract = b"a" + self._encode([self._dropped(parts), participates]) + b"\n"
        for own in owns:
            if found is not None:
                consented = abstraction.consented(shared, own.get("request"), self._facts)
                if consented is not None:
                    keys.append(abstract + self._encode([self._dropped(own), consented]))
                    continue
            if exact is None:
                exact = self._exact(shared)
            keys.append(exact + self._encode(self._dropped(own)))
        return keys

    def _exact(self, shared: Mapping[str, Any]) -> bytes:
        return self._encode(self._dropped(shared)) + b"\n"

    def _dropped(self, parts: Mapping[str, Any]) -> dict[str, Any]:
        return {
            part: (
                {k: v for k, v in value.items() if (part, k) not in self._drop}
                if isinstance(value, dict)
                else value
            )
            for part, value in parts.items()
        }

    @staticmethod
    def _encode(doc: Any) -> bytes:
        try:
            return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # what orjson will not write (e.g. integers past 64 bits)
            return b"j" + json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def recall_json_each(
        self, shared: Mapping[str, Any], requests: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        """:meth:`recall_json` for each input ``{**shared, "request": request}`` (``shared``
        holds no ``request``): the shared part encoded once, the memory locked once."""
        if self._tripped:
            raise EngineError("memoised decisions disagreed with the engine; failing closed")
        keys = self._keys(shared, [{"request": request} for request in requests])
        checks = []
        with self._lock:
            answers = [MISSING if key is None else self._memo.get(key, MISSING) for key in keys]
            for key, answer, request in zip(keys, answers, requests, strict=True):
                if key is not None and answer is not MISSING:
                    self._memo.move_to_end(key)
                    self.hits += 1
                    if self._check_now(key):
                        checks.append((key, answer, request))
        for key, answer, request in checks:
            self._check_later(self._engine.evaluate, {**shared, "request": request}, key, answer)
        return answers

    def recall(self, policy_input: Mapping[str, Any]) -> Any:
        """The remembered answer, or :data:`MISSING` — never an engine call, so it is cheap
        enough to run on the event loop (no hop to a policy worker for a hit)."""
        found = self.recall_json(policy_input)
        return found if found is MISSING else orjson.loads(found)

    def recall_json(self, policy_input: Mapping[str, Any]) -> Any:
        """:meth:`recall` as the remembered JSON itself (bytes), or :data:`MISSING`: the same
        bytes object for every hit on an input, so a caller may keep what it parsed from it
        (gateway/policy/engine.py keeps parsed decisions)."""
        return self._recall(policy_input, self.key(policy_input), self._engine.evaluate)

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        return self._evaluate(policy_input, self.key(policy_input), self._engine.evaluate)

    # The signals entrypoint (data.signals.decision): the same memory, keys of their own.

    def recall_signal(self, policy_input: Mapping[str, Any]) -> Any:
        key = _SIGNAL + self._signal_key(policy_input)
        found = self._recall(policy_input, key, self._inner_signal)
        return found if found is MISSING else orjson.loads(found)

    def evaluate_signal(self, policy_input: Mapping[str, Any]) -> Any:
        key = _SIGNAL + self._signal_key(policy_input)
        return self._evaluate(policy_input, key, self._inner_signal)

    def _signal_key(self, policy_input: Mapping[str, Any]) -> bytes:
        """Always the exact key: the facts are the sharing policy's, not the signals'."""
        return self._encode(self._dropped(policy_input))

    def _inner_signal(self, policy_input: Mapping[str, Any]) -> Any:
        evaluate = getattr(self._engine, "evaluate_signal", None)
        return evaluate(policy_input) if evaluate is not None else None

    def _recall(self, policy_input: Mapping[str, Any], key: bytes | None, engine: _Evaluate) -> Any:
        """The remembered answer's JSON (the stored bytes object), or :data:`MISSING`."""
        if self._tripped:
            raise EngineError("memoised decisions disagreed with the engine; failing closed")
        if key is None:
            return MISSING
        with self._lock:
            answer = self._memo.get(key)
            if answer is None:
                return MISSING
            self._memo.move_to_end(key)
            self.hits += 1
            check = self._check_now(key)
        if check:
            self._check_later(engine, policy_input, key, answer)
        return answer

    def _check_now(self, key: bytes) -> bool:
        """Whether this hit is evaluated again (the lock held): every answer's first hit — the
        first time another input may share its key (gateway/policy/abstraction.py) — and a
        share of the rest; none while the checker is :data:`_BACKLOG` behind (a first hit then
        stays first) or when verification is off."""
        if self._verify_share <= 0 or self._backlog >= _BACKLOG:
            return False
        if key in self._unchecked:
            self._unchecked.discard(key)
        elif random.random() >= self._verify_share:  # noqa: S311 - sampling, not secrecy
            return False
        self._backlog += 1
        return True

    def _check_later(
        self, engine: _Evaluate, policy_input: Mapping[str, Any], key: bytes, answer: bytes
    ) -> None:
        try:
            self._checker.submit(self._verify, engine, dict(policy_input), key, answer)
        except RuntimeError:  # closed once this snapshot is replaced: answers stand unchecked
            with self._lock:
                self._backlog -= 1

    def _evaluate(
        self, policy_input: Mapping[str, Any], key: bytes | None, engine: _Evaluate
    ) -> Any:
        found = self._recall(policy_input, key, engine)
        if found is not MISSING:
            return orjson.loads(found)
        result = engine(policy_input)
        if self._tripped:  # tripped while this evaluation ran: do not refill the memo
            raise EngineError("memoised decisions disagreed with the engine; failing closed")
        if key is None:
            return result
        with self._lock:
            self.misses += 1
            self._memo[key] = _dump(result)
            self._unchecked.add(key)
            while len(self._memo) > self._capacity:
                self._unchecked.discard(self._memo.popitem(last=False)[0])
        return result

    def _verify(
        self, engine: _Evaluate, policy_input: dict[str, Any], key: bytes, answer: bytes
    ) -> None:
        try:
            fresh = engine(policy_input)
        except Exception as exc:  # an engine failure is not a disagreement
            log.warning("policy.memo_verify_failed", error=exc.__class__.__name__)
            return
        finally:
            with self._lock:
                self._backlog -= 1
        if fresh != orjson.loads(answer):
            self._tripped = True
            with self._lock:
                self._memo.clear()
            log.error("policy.memo_mismatch", version=self.version, key_bytes=len(key))

    def close(self) -> None:
        self._checker.shutdown(wait=False, cancel_futures=True)


def _outsider(shared: Mapping[str, Any]) -> bool:
    """A sharing input about no case, or about a case the requester does not take part in."""
    case, requester = shared.get("case"), shared.get("requester")
    if not isinstance(case, dict) or not isinstance(requester, dict):
        return False  # not the gateway's shape (or a signals input): as any other input
    participants = case.get("participants")
    member = isinstance(participants, list) and requester.get("oin") in participants
    return case.get("found") is not True or not member


def _dump(answer: Any) -> bytes:
    """The engine's answer, kept as bytes: every hit gets a fresh copy (``orjson.loads``)."""
    try:
        return orjson.dumps(answer)
    except TypeError:
        return json.dumps(answer).encode()
