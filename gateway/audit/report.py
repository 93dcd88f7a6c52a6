"""The auditor's reports: a data subject's access report (GDPR art. 15) and anomaly views.

The art. 15 report answers, for one person: who received which categories of data about them,
when, for which purpose and on which legal basis. It joins each decision (what was granted, and
why) with its fetch entry (what each source actually returned), so a source that had no record
of the person, or failed, is not reported as having released anything.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlmodel import Session, select

from gateway import clock
from gateway.audit.access import AuditorAccess
from gateway.audit.query import Filter, entries
from gateway.auth.clients import ClientRow
from gateway.bsn import Bsn


def organisations(access: AuditorAccess) -> dict[str, str]:
    """Organisation names by OIN, from the registered clients."""
    with Session(access.engine) as session:
        return {row.oin: row.organisation for row in session.exec(select(ClientRow))}


def subject_report(access: AuditorAccess, bsn: Bsn) -> dict[str, Any]:
    names = organisations(access)
    pseudonym = access.pseudonym(bsn)
    returned: dict[str, dict[str, set[str]]] = {}
    for row in entries(access.store, Filter(subject=pseudonym, action="disclosure.fetch")):
        fetch = access.body_or_none(row)
        if fetch is None:
            continue
        returned[fetch["decision_entry"]] = {
            s["source"]: set(s["released"]) for s in fetch["sources"] if s["status"] == "released"
        }
    received, refused = [], 0
    for row in entries(access.store, Filter(subject=pseudonym, action="disclosure.decision")):
        body = access.body_or_none(row)
        if body is None:
            continue  # (cannot happen: a shredded period's subject index goes with its key)
        got = returned.get(row.entry_hash, {})
        granted = {
            d["source"]: {
                name: {"transform": g["transform"], "legal_basis": g["basis"]}
                for name, g in d["fields"].items()
                if name in got.get(d["source"], ())
            }
            for d in body["decisions"]
        }
        granted = {source: fields for source, fields in granted.items() if fields}
        if not granted:
            refused += 1
            continue
        requester = body["requester"]
        received.append(
            {
                "time": row.time,
                "recipient": {
                    "oin": row.facts.requester_oin,
                    "organisation": names.get(row.facts.requester_oin, ""),
                    "org_type": requester["org_type"],
                    "role": requester["role"],
                },
                "purpose": row.facts.purpose,
                "case_id": row.facts.case_id,
                "data": granted,
                "break_glass": row.facts.review,
                "ledger_entry": row.entry_hash,
            }
        )
    return {
        "generated_at": clock.iso_now(),
        "disclosures": received,
        "refused_requests": refused,
        "destroyed_periods": [
            {"purpose": k.scope, "period": k.period}
            for k in access.store.period_keys(live=False)
            if k.destroyed_at is not None
        ],
        "note": "Fields released per disclosure, with their form (transform) and legal basis. "
        "Requests that released nothing (refused, or no source had a record) are only counted. "
        "Records of destroyed periods (past their retention) can no longer be linked to anyone.",
    }


def report_html(report: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for d in report["disclosures"]:
        data = "<br>".join(
            f"{e(source)}: "
            + ", ".join(
                f"{e(f)} ({e(g['transform'])}, {e(g['legal_basis'])})" for f, g in fs.items()
            )
            for source, fs in d["data"].items()
        )
        who = d["recipient"]
        rows.append(
            f"<tr><td>{e(d['time'])}</td><td>{e(who['organisation'] or who['oin'])}"
            f"<br><small>{e(who['role'])}</small></td><td>{e(d['purpose'])}</td>"
            f"<td>{data}</td><td>{'yes' if d['break_glass'] else ''}</td></tr>"
        )
    return (
        "<!doctype html><html lang='nl'><meta charset='utf-8'>"
        "<title>Inzage (AVG art. 15)</title><h1>Who received data about this person</h1>"
        f"<p>Generated {e(report['generated_at'])}. {e(report['note'])}</p>"
        "<table border='1' cellpadding='4'><tr><th>When</th><th>Recipient</th><th>Purpose</th>"
        "<th>Data (form, legal basis)</th><th>Urgent (break-glass)</th></tr>"
        + "".join(rows)
        + f"</table><p>Requests refused entirely: {report['refused_requests']}.</p></html>"
    )


def anomalies(
    access: AuditorAccess,
    where: Filter | None = None,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Views an auditor starts from: break-glass releases to review, denials per organisation,
    requests on closed cases, and days with unusual volume per organisation."""
    break_glass, denials, after_close = [], Counter[str](), []
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    where = replace(where or Filter(), action="disclosure.decision")
    for row in entries(access.store, where):
        progress()
        per_day[row.facts.requester_oin][row.time[:10]] += 1
        if row.facts.review:
            break_glass.append(
                {
                    "entry": row.seq,
                    "time": row.time,
                    "oin": row.facts.requester_oin,
                    "case": row.facts.case_id,
                }
            )
        if row.facts.outcome == "deny":
            denials[row.facts.requester_oin] += 1
            body = access.body_or_none(row) or {"decisions": []}
            reasons = {r for d in body["decisions"] for r in d["reasons"]}
            if "case_closed" in reasons:
                after_close.append(
                    {"entry": row.seq, "time": row.time, "oin": row.facts.requester_oin}
                )
    spikes = []
    for oin, days in per_day.items():
        typical = statistics.median(days.values())
        spikes += [
            {"oin": oin, "day": day, "requests": n, "typical": typical}
            for day, n in sorted(days.items())
            if n >= 10 and n > 3 * typical
        ]
    return {
        "break_glass_to_review": break_glass,
        "denials_per_organisation": dict(denials.most_common()),
        "requests_on_closed_cases": after_close,
        "volume_spikes": spikes,
    }
