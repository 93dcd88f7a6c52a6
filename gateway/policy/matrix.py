"""``gateway policy matrix``: the sharing matrix a privacy covenant annexes, from the policy data.

Per purpose: its legal bases, and for every stage, role, source and field the form in which the
field may be shared, the basis that covers it and why the role needs it — exactly the cells the
engine releases (a test checks every cell, and that the engine releases nothing else). Fields
that need the person's consent say so, with the break-glass form where the purpose has one.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.catalog import Catalog

CONTENT_STAGES = ("screening", "casusoverleg", "plan", "monitoring")


@dataclass(frozen=True)
class Cell:
    purpose: str
    stage: str
    role: str
    org_type: str
    source: str
    field: str
    transform: str
    basis: str
    condition: str
    """"" or what else the release needs (the person's consent; break-glass form)."""
    reason: str
    """Why the role needs it (catalog/necessity_reasons.yaml)."""


def basis_for(purpose: Mapping[str, Any], source: str, sensitivity: str) -> str | None:
    """The purpose's first basis covering the source and sensitivity (criminal-law data: a Wpg
    or Wjsg basis) — the same rule as the policy's."""
    for b in purpose.get("bases", []):
        covers = source in b["sources"] and sensitivity in b["covers"]
        if covers and (sensitivity != "strafrechtelijk" or b["law"] in ("wpg", "wjsg")):
            return str(b["id"])
    return None


def cells(catalog: Catalog, raw: Mapping[str, Any]) -> Iterator[Cell]:
    sources = raw.get("sources", {})
    for pid in sorted(catalog.purposes):
        purpose = catalog.purposes[pid]
        glass = purpose.get("break_glass") or {}
        for stage in CONTENT_STAGES:
            for role in sorted(catalog.roles):
                org_type = catalog.roles[role]["org_types"][0]
                if org_type not in purpose["participants"]:
                    continue
                for source, fields in sorted(catalog.necessity(pid, stage, role).items()):
                    spec = sources[source]
                    for name, transform in sorted(fields.items()):
                        sensitivity = spec["fields"][name]["sensitivity"]
                        basis = basis_for(purpose, source, sensitivity)
                        if basis is None or sensitivity == "geheim":
                            continue
                        condition = ""
                        if spec.get("requires_consent") and sensitivity == "bijzonder":
                            condition = "with the person's consent"
                            if name in glass.get(source, {}):
                                condition += (
                                    f"; without it only urgent and justified: "
                                    f"{glass[source][name]} (reviewed)"
                                )
                        reason = catalog.necessity_reason(pid, role, source, name) or ""
                        yield Cell(
                            pid,
                            stage,
                            role,
                            org_type,
                            source,
                            name,
                            transform,
                            basis,
                            condition,
                            reason,
                        )


def as_markdown(catalog: Catalog, raw: Mapping[str, Any], version: str) -> str:
    out = [
        "# Sharing matrix (annex to the covenant)",
        "",
        f"Generated from policy `{version}`: what each role may receive, at each stage of a "
        "case, from each source, in which form and on which legal basis. Anything not listed "
        "is not shared.",
    ]
    all_cells = list(cells(catalog, raw))
    for pid in sorted(catalog.purposes):
        purpose = catalog.purposes[pid]
        out += ["", f"## {purpose.get('title', pid)} (`{pid}`)", "", "Legal bases:", ""]
        out += [f"- `{b['id']}` — {b['title']}" for b in purpose["bases"]]
        out += [
            "",
            "| stage | role (organisation) | source | field | form | basis | condition "
            "| necessity |",
            "|---|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {c.stage} | {c.role} ({c.org_type}) | {c.source} | {c.field} | {c.transform} "
            f"| `{c.basis}` | {c.condition} | {c.reason} |"
            for c in all_cells
            if c.purpose == pid
        ]
    return "\n".join(out) + "\n"


def as_html(catalog: Catalog, raw: Mapping[str, Any], version: str) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>Sharing matrix</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25em .5em}</style>",
        f"<h1>Sharing matrix</h1><p>Generated from policy <code>{e(version)}</code>. "
        "Anything not listed is not shared.</p>",
    ]
    all_cells = list(cells(catalog, raw))
    for pid in sorted(catalog.purposes):
        purpose = catalog.purposes[pid]
        bases = "".join(
            f"<li><code>{e(b['id'])}</code> — {e(b['title'])}</li>" for b in purpose["bases"]
        )
        rows = "".join(
            f"<tr><td>{e(c.stage)}</td><td>{e(c.role)} ({e(c.org_type)})</td><td>{e(c.source)}</td>"
            f"<td>{e(c.field)}</td><td>{e(c.transform)}</td><td><code>{e(c.basis)}</code></td>"
            f"<td>{e(c.condition)}</td><td>{e(c.reason)}</td></tr>"
            for c in all_cells
            if c.purpose == pid
        )
        parts.append(
            f"<h2>{e(str(purpose.get('title', pid)))}</h2><ul>{bases}</ul><table><tr>"
            "<th>stage</th><th>role</th><th>source</th><th>field</th><th>form</th><th>basis</th>"
            f"<th>condition</th><th>necessity</th></tr>{rows}</table>"
        )
    return "".join(parts) + "</html>"
