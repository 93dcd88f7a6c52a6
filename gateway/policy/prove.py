"""``gateway policy prove``: check invariants of the sharing policy on every point of its
finite input space (:mod:`gateway.policy.space`), on a real engine.

Each point's decision is reduced to what it releases (field → transform, basis, break-glass);
single-point invariants are checked as the decisions come in, the monotonicity invariants over
pairs of points once all are in. The result is a certificate (policy version, engine, size of
the space, invariants, time) or, per violated invariant, its first counter-example with the
policy input that shows it (ready for a dry run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog import Catalog
from gateway.policy.abstraction import Fact, facts
from gateway.policy.bundle import PolicySet
from gateway.policy.space import Point, fixed_members, points, size

Released = Mapping[str, tuple[str, str, bool]]
"""field → (transform, basis, break_glass)"""
BatchEvaluator = Callable[[Sequence[Mapping[str, Any]]], list[Any]]

KNOWN_SENSITIVITIES = frozenset({"gewoon", "bijzonder", "strafrechtelijk"})
_RANK = {"exists": 0, "count": 1, "band": 1, "year": 1, "age": 1, "contact": 1, "plain": 2}

INVARIANTS: dict[str, str] = {
    "no_geheim": "no geheim (or unknown-sensitivity) field is ever released",
    "standing": "nothing for a closed case, a non-participant or an unlinked subject",
    "purpose_sources": "nothing from a source outside the case's purpose",
    "children": "children only in purposes whose scope includes them",
    "consent": "GGZ (consent-source special-category) data only with consent, or break-glass",
    "basis": "every released field has a basis of the purpose covering its source and "
    "sensitivity (criminal-law data: Wpg or Wjsg)",
    "break_glass": "break-glass only when urgent and justified, for a field of the purpose's "
    "break-glass set that the role's necessity row at that stage lists",
    "screening_transforms": "at screening only existence and contact transforms",
    "consent_monotone": "recording consent never releases less",
    "monitoring_within_plan": "monitoring never releases more (or more revealing) than plan",
    "screening_within_casusoverleg": "screening never releases what casusoverleg does not",
    "urgency_narrow": "urgency never widens beyond the break-glass set",
}


@dataclass(frozen=True)
class CounterExample:
    invariant: str
    point: Point
    detail: str

    def request(self) -> dict[str, Any]:
        """The dry-run request that shows it (``POST /v1/policy/dry-run`` body)."""
        return {"input": self.point.policy_input()}


@dataclass
class Certificate:
    policy_version: str
    engine: str
    points: int
    reductions: dict[str, str]
    invariants: dict[str, str]
    seconds: float = 0.0
    counter_examples: list[CounterExample] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """Reductions of the space that the policy text does not support: the points then cover
    less than the policy can tell apart, so nothing is proved for the rest."""

    @property
    def proved(self) -> bool:
        return not self.counter_examples and not self.unchecked

    @property
    def result(self) -> str:
        if self.counter_examples:
            return "counter-example"  # a point is a real input: its counter-example stands
        return "incomplete" if self.unchecked else "proved"

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "engine": self.engine,
            "input_space": self.points,
            "reductions": self.reductions,
            "invariants": self.invariants,
            "result": self.result,
            "unchecked_reductions": self.unchecked,
            "seconds": round(self.seconds, 1),
            "counter_examples": [
                {"invariant": c.invariant, "detail": c.detail, **c.request()}
                for c in self.counter_examples
            ],
        }


def released(decision: Any) -> Released:
    """What a decision document releases: any field in ``fields``, whatever else it says."""
    fields = decision.get("fields") if isinstance(decision, dict) else None
    if not isinstance(fields, dict):
        return {}
    out = {}
    for name, grant in fields.items():
        g = grant if isinstance(grant, dict) else {}
        out[name] = (str(g.get("transform")), str(g.get("basis")), g.get("break_glass") is True)
    return out


class _Checker:
    def __init__(self, catalog: Catalog, raw: Mapping[str, Any]) -> None:
        self.catalog = catalog
        self.sources = raw.get("sources", {})

    def sensitivity(self, source: str, name: str) -> str:
        spec = self.sources.get(source, {}).get("fields", {}).get(name)
        return str(spec.get("sensitivity")) if isinstance(spec, dict) else "unknown"

    def break_glass_set(self, p: Point) -> Mapping[str, str]:
        bg = self.catalog.purposes.get(p.purpose, {}).get("break_glass") or {}
        return bg.get(p.source, {}) if isinstance(bg, dict) else {}

    def row(self, p: Point) -> Mapping[str, str]:
        return self.catalog.necessity(p.purpose, p.stage, p.role).get(p.source, {})

    def basis_ok(self, p: Point, name: str, basis: str) -> bool:
        sensitivity = self.sensitivity(p.source, name)
        for b in self.catalog.purposes.get(p.purpose, {}).get("bases", []):
            if b.get("id") != basis:
                continue
            if p.source in b.get("sources", []) and sensitivity in b.get("covers", []):
                return sensitivity != "strafrechtelijk" or b.get("law") in ("wpg", "wjsg")
        return False

    def single(self, p: Point, got: Released) -> Iterator[tuple[str, str]]:
        if not got:
            return
        purpose = self.catalog.purposes.get(p.purpose, {})
        names = ", ".join(sorted(got))
        if p.standing != "member":
            yield "standing", f"{p.standing}: released {names}"
        if p.source not in purpose.get("sources", []):
            yield "purpose_sources", f"released {names}"
        if p.minor and purpose.get("scope_includes_children") is not True:
            yield "children", f"a minor: released {names}"
        consent_source = self.sources.get(p.source, {}).get("requires_consent") is True
        for name, (transform, basis, break_glass) in sorted(got.items()):
            sensitivity = self.sensitivity(p.source, name)
            if sensitivity not in KNOWN_SENSITIVITIES:
                yield "no_geheim", f"{name} ({sensitivity}) released"
            urgent = p.urgency == "spoed" and p.justified
            needs_consent = consent_source and sensitivity == "bijzonder" and not p.consent
            if needs_consent and not (break_glass and urgent):
                yield "consent", f"{name} released without consent"
            if not self.basis_ok(p, name, basis):
                yield "basis", f"{name} released on basis {basis!r}"
            if break_glass and not (
                urgent and name in self.break_glass_set(p) and name in self.row(p)
            ):
                where = "not in the role's necessity row" if name not in self.row(p) else ""
                yield "break_glass", f"{name} released by break-glass {where}".rstrip()
            if p.stage == "screening" and transform not in ("exists", "contact"):
                yield "screening_transforms", f"{name} as {transform} at screening"

    def pairs(self, results: Mapping[Point, Released]) -> Iterator[tuple[str, Point, str]]:
        for p, got in results.items():
            if p.consent:
                continue
            with_consent = results.get(p.but(consent=True), {})
            lost = sorted(set(got) - set(with_consent))
            if lost:
                yield "consent_monotone", p, f"recording consent loses {', '.join(lost)}"
        for p, got in results.items():
            if p.stage == "monitoring":
                plan = results.get(p.but(stage="plan"), {})
                more = sorted(
                    n for n, g in got.items() if n not in plan or _RANK[g[0]] > _RANK[plan[n][0]]
                )
                if more:
                    yield "monitoring_within_plan", p, f"monitoring releases {', '.join(more)}"
            if p.stage == "screening":
                overleg = results.get(p.but(stage="casusoverleg"), {})
                more = sorted(set(got) - set(overleg))
                if more:
                    yield (
                        "screening_within_casusoverleg",
                        p,
                        f"screening releases {', '.join(more)}",
                    )
            if p.urgency == "spoed":
                regular = results.get(p.but(urgency="regulier"), {})
                wider = sorted(set(got) - set(regular) - set(self.break_glass_set(p)))
                if wider:
                    yield "urgency_narrow", p, f"urgency opens {', '.join(wider)}"


def prove(
    policy: PolicySet,
    evaluate: BatchEvaluator,
    engine_name: str,
    *,
    batch: int = 2_000,
    purposes: Collection[str] | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> Certificate:
    """Evaluate every point and check every invariant; all violated invariants are reported,
    each with its first counter-example (in the space's order)."""
    started = time.perf_counter()
    catalog = Catalog(policy.catalog)
    fixed = fixed_members(policy.modules)
    certificate = Certificate(
        policy.version,
        engine_name,
        size(catalog, fixed, purposes),
        {k: f"fixed to {v!r}: no policy module names it" for k, v in fixed.items()},
        dict(INVARIANTS),
    )
    checker = _Checker(catalog, policy.catalog)
    found: dict[str, CounterExample] = {}
    results: dict[Point, Released] = {}
    if purposes is not None:
        certificate.reductions["purposes"] = "only " + ", ".join(sorted(purposes))
    read_through = facts(policy.modules)
    for fact, (member, reduction) in _FACT_REDUCTIONS.items():
        if fact in read_through:
            certificate.reductions[member] = f"{reduction} (the policy reads nothing more)"
        else:
            certificate.unchecked.append(
                f"{member}: the space holds only {reduction}, but the policy reads more of it"
            )
    for chunk in _chunks(points(catalog, fixed, purposes), batch):
        decisions = evaluate([p.policy_input() for p in chunk])
        for p, decision in zip(chunk, decisions, strict=True):
            got = released(decision)
            results[p] = got
            for invariant, detail in checker.single(p, got):
                found.setdefault(invariant, CounterExample(invariant, p, detail))
        progress(len(chunk))
    for invariant, p, detail in checker.pairs(results):
        found.setdefault(invariant, CounterExample(invariant, p, detail))
    certificate.counter_examples = [found[name] for name in INVARIANTS if name in found]
    certificate.seconds = time.perf_counter() - started
    return certificate


# The space's reductions of the open-ended members (gateway/policy/space.py), each checked in
# the policy text by the same check that lets the memo share answers between cases.
_FACT_REDUCTIONS: dict[Fact, tuple[str, str]] = {
    "case_id": ("case.id", "one case id"),
    "participation": (
        "case.participants, requester.oin",
        "whether the requester is among the participants",
    ),
    "consent": ("subject.consents", "whether the requested source is among them"),
}


def _chunks(items: Iterable[Point], n: int) -> Iterator[list[Point]]:
    chunk: list[Point] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- evaluators ---------------------------------------------------------------------------------


def embedded_evaluator(policy: PolicySet, threads: int = 2) -> BatchEvaluator:
    """The embedded engine, one interpreter per thread (rego-cpp releases the GIL)."""
    from gateway.policy.embedded import EmbeddedEngine

    engine = EmbeddedEngine(policy)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prove")

    def evaluate(inputs: Sequence[Mapping[str, Any]]) -> list[Any]:
        return list(pool.map(engine.evaluate, inputs, chunksize=64))

    return evaluate


_BATCH_MODULE = """package gateway_prove

import rego.v1

decisions := [d | some i in input.batch; d := data.sharing.decision with input as i]
"""


def opa_evaluator(policy: PolicySet, threads: int = 2) -> BatchEvaluator:
    """OPA's evaluator, a batch of inputs per call (``data.sharing.decision`` with each input:
    the entrypoint itself, not a function behind it); one OPA engine per thread (the calls
    into Go release the GIL)."""
    from gateway.policy.bundle import PolicySet as _PolicySet
    from gateway.policy.golib import opa_engine

    with_batch = _PolicySet(
        policy.version, {**policy.modules, "gateway_prove.rego": _BATCH_MODULE}, {}, policy.catalog
    )
    engines = [opa_engine(with_batch) for _ in range(threads)]
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prove-opa")

    def run(engine: Any, inputs: Sequence[Mapping[str, Any]]) -> list[Any]:
        return list(engine.eval_document("gateway_prove.decisions", {"batch": list(inputs)}))

    def evaluate(inputs: Sequence[Mapping[str, Any]]) -> list[Any]:
        step = -(-len(inputs) // threads)
        parts = [inputs[i : i + step] for i in range(0, len(inputs), step)]
        out: list[Any] = []
        for part in pool.map(run, engines, parts):
            out.extend(part)
        return out

    return evaluate
