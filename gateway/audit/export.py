"""Exports for interchange: Logius' *Logboek Dataverwerkingen* 1.0 (LDV), *Authorization
Decision Log* 1.0 (ADL), and plain JSON Lines and CSV. The mapping is documented in
docs/exports.md; every record is derived from one ledger entry, deterministically, so exporting
twice gives the same records (ADL asks for idempotent ingestion).

Left out on purpose: user identities in LDV records (the standard puts them in an audit log, not
the processing log — they are in the ADL request and the JSON Lines export), and any BSN (the
data subject is the keyed pseudonym, typed as such).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from gateway.audit.access import AuditorAccess
from gateway.audit.query import Filter, entries
from gateway.ledger.stores import StoredEntry

Format = Literal["ldv", "adl", "jsonl", "csv"]
PROCESSING_REGISTER = "https://gateway.zorg-veiligheid.example/verwerkingsregister"
ENGINE = {"engine": "rego-cpp (regopy)", "product": "zorg-veiligheid-gateway"}

_NAMES = {
    "disclosure.decision": "Besluit over verstrekking",
    "disclosure.fetch": "Verstrekking van gegevens",
    "case.create": "Casus aangemaakt",
    "case.link": "Persoon aan casus gekoppeld",
    "case.stage": "Fase van casus gewijzigd",
    "auditor_key.change": "Sleutel van de auditor gewijzigd",
    "policy.activate": "Beleid in werking gesteld",
    "signal.register": "Signaal afgegeven",
    "signal.withdraw": "Signaal ingetrokken",
    "signal.match": "Match tussen signalen",
    "signal.notify": "Match gemeld aan partner (webhook)",
    "signal.expire": "Signalen verlopen",
    "signal.destroy": "Signalen vernietigd",
    "signal_key.rotate": "Sleutel voor signaalpseudoniemen vervangen",
    "console.view": "Inzage in het grootboek via de console",
    "break_glass.review": "Doorbraak beoordeeld",
}
CSV_COLUMNS = (
    "seq",
    "time",
    "action",
    "requester_oin",
    "purpose",
    "case_id",
    "subject",
    "outcome",
    "review",
    "policy_version",
    "entry_hash",
)


def entry_summary(entry: StoredEntry) -> dict[str, Any]:
    """The public view of an entry: its header, subject index and hash (no sealed body)."""
    return {
        "seq": entry.seq,
        "time": entry.time,
        **asdict(entry.facts),
        "subject": entry.subject,
        "entry_hash": entry.entry_hash,
        "prev_hash": entry.header.prev_hash,
    }


def _millis(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def _span(row: StoredEntry, body: dict[str, Any]) -> str:
    # The request's own span when it was recorded; otherwise one derived from the entry, so a
    # re-export yields the same id.
    span = body.get("span_id")
    return str(span) if span else row.entry_hash[:16]


def _trace(row: StoredEntry, body: dict[str, Any]) -> str:
    trace = body.get("trace_id")
    return str(trace) if trace else row.entry_hash[16:48]


def processing_activity(purpose: str, policy_version: str) -> str:
    """A versioned URI per purpose in the register of processing activities."""
    return f"{PROCESSING_REGISTER}/{purpose or 'beheer'}?policy={policy_version[7:23]}"


def _status(body: dict[str, Any]) -> str:
    # A refusal handled without failure is not an error (LDV, ADL); an engine failure is.
    reasons = {r for d in body.get("decisions", []) for r in d.get("reasons", [])}
    errors = {s.get("status") for s in body.get("sources", [])}
    if reasons & {"engine_error", "engine_timeout", "engine_busy", "malformed_decision"}:
        return "Error"
    return "Error" if "error" in errors else "Ok"


def ldv_record(row: StoredEntry, body: dict[str, Any]) -> dict[str, Any]:
    at = _millis(row.time)
    attributes: dict[str, Any] = {
        "dpl.core.processing_activity_id": processing_activity(
            row.facts.purpose, row.facts.policy_version
        ),
    }
    if row.subject:
        attributes["dpl.core.data_subject_id"] = row.subject
        attributes["dpl.core.data_subject_id_type"] = "BSN-pseudoniem (HMAC-SHA256)"
    record: dict[str, Any] = {
        "trace_id": _trace(row, body),
        "span_id": _span(row, body),
        "name": _NAMES[row.facts.action] + (f" ({row.facts.purpose})" if row.facts.purpose else ""),
        "start_time": at,
        "end_time": at,
        "status": _status(body),
        "resource": {"service.name": "zorg-veiligheid-gateway"},
        "attributes": attributes,
    }
    if body.get("parent_span_id"):
        record["parent_span_id"] = body["parent_span_id"]
    return record


def adl_record(row: StoredEntry, body: dict[str, Any]) -> dict[str, Any]:
    decisions = body.get("decisions", [])
    record: dict[str, Any] = {
        "trace_id": _trace(row, body),
        "span_id": _span(row, body),
        "event_name": "adl.access_evaluation",
        "timestamp": _millis(row.time),
        "status": _status(body),
        "attributes": {
            # AuthZEN shape: subject, action, resource, context.
            "adl.core.request": {
                "subject": {"type": "organisation", "id": row.facts.requester_oin},
                "action": {"name": "disclose"},
                "resource": {"type": "case", "id": row.facts.case_id, "purpose": row.facts.purpose},
                "context": body.get("input", {}),
            },
            "adl.core.response": {
                "decision": row.facts.outcome != "deny",
                "outcome": row.facts.outcome,
                "per_source": decisions,
            },
            "adl.core.policies": {d["source"]: row.facts.policy_version for d in decisions},
            "adl.core.information": sorted(d["source"] for d in decisions),
            "adl.core.configuration": ENGINE,
        },
    }
    if body.get("parent_span_id"):
        record["parent_span_id"] = body["parent_span_id"]
    return record


def export(
    access: AuditorAccess,
    fmt: Format,
    where: Filter | None = None,
    progress: Callable[[], None] = lambda: None,
) -> Iterator[str]:
    """Lines of the export (CSV: with a header line first); ``progress`` is called per entry."""
    where = where or Filter()
    if fmt == "csv":
        yield ",".join(CSV_COLUMNS)
        for row in entries(access.store, where):
            progress()
            buffer = io.StringIO()
            summary = entry_summary(row)
            csv.writer(buffer).writerow([summary[c] for c in CSV_COLUMNS])
            yield buffer.getvalue().rstrip("\r\n")
        return
    for row in entries(access.store, where):
        progress()
        if fmt == "adl" and row.facts.action != "disclosure.decision":
            continue  # one ADL record per call to the decision engine
        if fmt == "ldv" and row.facts.action == "disclosure.decision":
            continue  # LDV records the processing (the fetch), not the authorisation
        opened = access.body_or_none(row)
        body = opened if opened is not None else {}
        if fmt == "ldv":
            doc = ldv_record(row, body)
        elif fmt == "adl":
            doc = adl_record(row, body)
        else:
            doc = {**entry_summary(row), "body": opened}
        yield json.dumps(doc, ensure_ascii=False, sort_keys=True)
