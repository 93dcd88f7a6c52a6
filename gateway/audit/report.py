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

from sqlalchemy import Engine
from sqlmodel import Session, select

from gateway import clock
from gateway.audit.access import AuditorAccess
from gateway.audit.query import Filter, entries
from gateway.auth.clients import ClientRow
from gateway.bsn import Bsn
from gateway.ledger.stores.base import LedgerStore, StoredEntry


def organisations(engine: Engine) -> dict[str, str]:
    """Organisation names by OIN, from the registered clients."""
    with Session(engine) as session:
        return {row.oin: row.organisation for row in session.exec(select(ClientRow))}


def subject_report(access: AuditorAccess, bsn: Bsn) -> dict[str, Any]:
    names = organisations(access.engine)
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
    signals, matches, refused_signals = _signals(access, pseudonym, names)
    return {
        "generated_at": clock.iso_now(),
        "disclosures": received,
        "refused_requests": refused,
        "signals": signals,
        "signal_matches": matches,
        "refused_signals": refused_signals,
        "destroyed_periods": [
            {"purpose": k.scope, "period": k.period}
            for k in access.store.period_keys(live=False)
            if k.destroyed_at is not None
        ],
        "note": "Fields released per disclosure, with their form (transform) and legal basis. "
        "Requests that released nothing (refused, or no source had a record) are only counted. "
        "Signals: which organisations registered that they are involved with this person, on "
        "which area and basis, what became of each signal, and which organisations were told "
        "of each other through a match. "
        "Records of destroyed periods (past their retention) can no longer be linked to anyone.",
    }


_SIGNAL_EVENTS = ("signal.withdraw", "signal.expire", "signal.destroy")


def _signals(
    access: AuditorAccess, pseudonym: str, names: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The person's signals (found by the registrations filed under their pseudonym), what
    became of each, and their matches (later entries name the signal ids, not the person)."""
    signals: dict[str, dict[str, Any]] = {}
    refused = 0
    for row in entries(access.store, Filter(subject=pseudonym, action="signal.register")):
        body = access.body_or_none(row)
        if body is None:
            continue
        if row.facts.outcome == "deny":
            refused += 1
            continue
        if body["signal"] in signals:
            continue  # registered again while active: the same signal
        oin = row.facts.requester_oin
        signals[body["signal"]] = {
            "signal": body["signal"],
            "registered_at": row.time,
            "organisation": {"oin": oin, "name": names.get(oin, "")},
            "role": body["requester"]["role"],
            "area": body["area"],
            "legal_basis": body.get("basis"),
            "consent": body.get("consent", False),
            "events": [],
            "ledger_entry": row.entry_hash,
        }
    matches: list[dict[str, Any]] = []
    if not signals:
        return [], [], refused
    for action in _SIGNAL_EVENTS:
        for row in entries(access.store, Filter(action=action)):
            body = access.body_or_none(row) or {}
            named = body.get("signals") or [body.get("signal")]  # a withdrawal names one
            for sid in named:
                if sid in signals:
                    signals[sid]["events"].append({"time": row.time, "event": action[7:]})
    for row in entries(access.store, Filter(action="signal.match")):
        body = access.body_or_none(row)
        if body is None or not set(body["signals"]) & set(signals):
            continue
        matches.append(
            {
                "time": row.time,
                "organisations": [
                    {"oin": oin, "name": names.get(oin, "")} for oin in body["organisations"]
                ],
                "signals": body["signals"],
                "ledger_entry": row.entry_hash,
            }
        )
    return list(signals.values()), matches, refused


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
        + f"</table><p>Requests refused entirely: {report['refused_requests']}.</p>"
        + _signals_html(report)
        + "</html>"
    )


def _signals_html(report: dict[str, Any]) -> str:
    e = html.escape
    rows = [
        f"<tr><td>{e(s['registered_at'])}</td>"
        f"<td>{e(s['organisation']['name'] or s['organisation']['oin'])}</td>"
        f"<td>{e(s['area'])}</td><td>{e(s['legal_basis'] or '')}</td><td>"
        + ", ".join(f"{e(ev['event'])} {e(ev['time'][:10])}" for ev in s["events"])
        + "</td></tr>"
        for s in report.get("signals", [])
    ]
    told = [
        f"<li>{e(m['time'][:10])}: "
        + " &amp; ".join(e(o["name"] or o["oin"]) for o in m["organisations"])
        + "</li>"
        for m in report.get("signal_matches", [])
    ]
    return (
        "<h2>Signals: who registered involvement</h2><table border='1' cellpadding='4'>"
        "<tr><th>When</th><th>Organisation</th><th>Area</th><th>Legal basis</th>"
        "<th>What became of it</th></tr>" + "".join(rows) + "</table>"
        "<h2>Matches: organisations told of each other</h2><ul>" + "".join(told) + "</ul>"
    )


def anomalies(
    access: AuditorAccess,
    where: Filter | None = None,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Views an auditor starts from: break-glass releases to review, denials per organisation,
    requests on closed cases, and days with unusual volume per organisation."""
    return anomalies_in(access.store, access.body_or_none, where, progress)


def anomalies_in(
    store: LedgerStore,
    open_body: Callable[[StoredEntry], dict[str, Any] | None],
    where: Filter | None = None,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """:func:`anomalies` with any way of opening bodies; one that opens none (returns None)
    gives every view but the requests on closed cases, which need the denials' reasons."""
    break_glass, denials, after_close = [], Counter[str](), []
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    where = replace(where or Filter(), action="disclosure.decision")
    for row in entries(store, where):
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
            body = open_body(row) or {"decisions": []}
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
