"""``gateway policy replay``: the ledger's past decisions under a candidate policy.

Every ``disclosure.decision`` entry of a period holds, sealed, the complete policy input of its
request (the requester, the case with its stage and participants, the subject with consents,
urgency and justification) and what each source's decision released. With the auditor's key the
replay opens those bodies, rebuilds each source's policy input exactly, evaluates it under the
candidate and compares what would be released — field by field, transform by transform — with
what was. The answer: requests newly allowed or newly denied, fields gained or lost, per
purpose and organisation; nothing is written anywhere.
"""

from __future__ import annotations

import copy
import html
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gateway.catalog import Catalog
from gateway.policy.engine import PolicyEngine
from gateway.policy.prove import released

Kind = Literal["newly_allowed", "newly_denied", "fields_changed"]


@dataclass(frozen=True)
class Change:
    entry_hash: str
    time: str
    purpose: str
    organisation: str
    role: str
    stage: str
    source: str
    kind: Kind
    gained: dict[str, str]
    """field → transform the candidate would release that the policy in force did not (or in
    another form)."""
    lost: dict[str, str]
    """field → transform released then, not (or not in that form) under the candidate."""


@dataclass
class ReplayReport:
    candidate: str
    since: str | None
    until: str | None
    requests: int = 0
    decisions: int = 0
    unreadable: int = 0
    """Entries whose body was shredded under the retention policy: nothing left to replay."""
    changes: list[Change] = field(default_factory=list)

    @property
    def changed_requests(self) -> int:
        return len({c.entry_hash for c in self.changes})

    def summary(self) -> dict[str, Any]:
        by: Counter[tuple[str, str, str]] = Counter(
            (c.purpose, c.organisation, c.kind) for c in self.changes
        )
        return {
            "candidate": self.candidate,
            "period": {"since": self.since, "until": self.until},
            "requests_replayed": self.requests,
            "source_decisions_compared": self.decisions,
            "unreadable_past_retention": self.unreadable,
            "requests_changed": self.changed_requests,
            "per_purpose_and_organisation": [
                {"purpose": p, "organisation": o, "kind": k, "decisions": n}
                for (p, o, k), n in sorted(by.items())
            ],
            "changes": [asdict(c) for c in self.changes],
        }


def source_input(
    policy_input: Mapping[str, Any], source: str, fields: Iterable[str]
) -> dict[str, Any]:
    """The exact input the source's decision was made on."""
    inp = copy.deepcopy(dict(policy_input))
    # Sorted, as the disclosure gave them to the engine (gateway/disclosure.py).
    inp["request"] = {**inp.get("request", {}), "source": source, "fields": sorted(fields)}
    return inp


def _form(grants: Mapping[str, tuple[str, str, bool]]) -> dict[str, str]:
    return {name: g[0] for name, g in grants.items()}


def compare(
    entry_hash: str,
    time: str,
    purpose: str,
    organisation: str,
    body: Mapping[str, Any],
    candidate: PolicyEngine,
    catalog: Catalog,
) -> tuple[int, list[Change]]:
    """Re-decide one request's sources under ``candidate``; the changes, and how many source
    decisions were compared."""
    inp = body["input"]
    asked = body.get("request", {}).get("fields") or {}
    changes = []
    decisions = body.get("decisions", [])
    for recorded in decisions:
        source = recorded["source"]
        then = _form(released(recorded))
        decided = released(candidate.evaluate(source_input(inp, source, asked.get(source, []))))
        # The gateway's safety net applies to the candidate as it would in service.
        now = {f: t for f, t in _form(decided).items() if catalog.releasable(source, f)}
        if then == now:
            continue
        gained = {f: t for f, t in now.items() if then.get(f) != t}
        lost = {f: t for f, t in then.items() if now.get(f) != t}
        kind: Kind = (
            "newly_allowed" if not then else "newly_denied" if not now else "fields_changed"
        )
        changes.append(
            Change(
                entry_hash,
                time,
                purpose,
                organisation,
                str(inp.get("requester", {}).get("role", "")),
                str(inp.get("case", {}).get("stage", "")),
                source,
                kind,
                gained,
                lost,
            )
        )
    return len(decisions), changes


def replay(
    entries: Iterable[Any],
    open_body: Callable[[Any], Mapping[str, Any] | None],
    organisations: Mapping[str, str],
    candidate: PolicyEngine,
    catalog: Catalog,
    report: ReplayReport,
    progress: Callable[[], None] = lambda: None,
) -> ReplayReport:
    """``entries``: the period's ``disclosure.decision`` entries; ``open_body`` opens one (None
    when its period was shredded)."""
    for entry in entries:
        progress()
        body = open_body(entry)
        if body is None:
            report.unreadable += 1
            continue
        report.requests += 1
        oin = entry.facts.requester_oin
        compared, changes = compare(
            entry.entry_hash,
            entry.time,
            entry.facts.purpose,
            organisations.get(oin, oin),
            body,
            candidate,
            catalog,
        )
        report.decisions += compared
        report.changes.extend(changes)
    return report


def as_text(report: ReplayReport) -> str:
    s = report.summary()
    lines = [
        f"candidate {s['candidate']}",
        f"period    {s['period']['since'] or 'start'} .. {s['period']['until'] or 'now'}",
        f"replayed  {s['requests_replayed']} requests, {s['source_decisions_compared']} source "
        f"decisions ({s['unreadable_past_retention']} past retention, not readable)",
        f"changed   {s['requests_changed']} requests",
    ]
    for row in s["per_purpose_and_organisation"]:
        lines.append(
            f"  {row['purpose']:28} {row['organisation']:34} {row['kind']:15} {row['decisions']}"
        )
    for c in report.changes:
        delta = ", ".join(
            [f"+{f} ({t})" for f, t in sorted(c.gained.items())]
            + [f"-{f} ({t})" for f, t in sorted(c.lost.items())]
        )
        lines.append(f"{c.time} {c.entry_hash[:16]} {c.organisation} {c.role} {c.source}: {delta}")
    return "\n".join(lines)


def as_html(report: ReplayReport) -> str:
    e = html.escape
    s = report.summary()
    rows = "".join(
        f"<tr><td>{e(c.time)}</td><td>{e(c.purpose)}</td><td>{e(c.organisation)}<br>"
        f"<small>{e(c.role)}</small></td><td>{e(c.stage)}</td><td>{e(c.source)}</td>"
        f"<td>{e(c.kind)}</td><td>{e(', '.join(f'{f} ({t})' for f, t in sorted(c.gained.items())))}"
        f"</td><td>{e(', '.join(f'{f} ({t})' for f, t in sorted(c.lost.items())))}</td></tr>"
        for c in report.changes
    )
    groups = "".join(
        f"<tr><td>{e(r['purpose'])}</td><td>{e(r['organisation'])}</td><td>{e(r['kind'])}</td>"
        f"<td>{r['decisions']}</td></tr>"
        for r in s["per_purpose_and_organisation"]
    )
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>Policy replay</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}</style>"
        f"<h1>Replay under {e(s['candidate'])}</h1>"
        f"<p>{s['requests_replayed']} requests replayed ({s['source_decisions_compared']} source "
        f"decisions); {s['requests_changed']} would change; "
        f"{s['unreadable_past_retention']} past retention.</p>"
        "<h2>Per purpose and organisation</h2><table><tr><th>purpose</th><th>organisation</th>"
        f"<th>change</th><th>decisions</th></tr>{groups}</table>"
        "<h2>Requests that would change</h2><table><tr><th>time</th><th>purpose</th>"
        "<th>organisation</th><th>stage</th><th>source</th><th>change</th><th>gained</th>"
        f"<th>lost</th></tr>{rows}</table></html>"
    )
