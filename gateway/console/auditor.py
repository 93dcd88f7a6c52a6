"""Pages for auditors: the ledger's state, finding entries, a person's access report, charts and
anomalies — through the same functions as ``gateway ledger verify`` and ``gateway audit``.

What the public headers hold (organisations, purposes, cases, outcomes, times) needs no key;
what the sealed bodies hold needs the auditor's private key, which the auditor hands this
session (ADR 0014). Every page that shows entries is ledgered before it is shown; a person is
entered in a form (POST), never in an address.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date, timedelta
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from gateway.audit.query import Filter, entries
from gateway.audit.report import anomalies_in, subject_report
from gateway.console import forms
from gateway.console.charts import Counts, bar_chart, count
from gateway.console.deps import Auditor, Console, ConsoleDep, Posted
from gateway.errors import GatewayError
from gateway.ledger.checkpoint import check_against, signing_key_id, tree_state
from gateway.ledger.entry import ACTIONS
from gateway.ledger.stores.base import StoredEntry
from gateway.ledger.verify import verify_store

router = APIRouter(prefix="/audit")
RESULT_ROWS = 200


def _status(console: Console) -> dict[str, Any]:
    gw = console.gw
    head = gw.store.head()
    checkpoint = gw.checkpoints.latest()
    return {
        "entries": gw.store.count(),
        "head": head,
        "checkpoint": checkpoint,
        "checkpoint_dir": str(gw.checkpoints.path),
        "ledger_key": signing_key_id(gw.keys.ledger_signing.public_key()),
        "verification": console.last_verification,
    }


@router.get("")
async def status(request: Request, console: ConsoleDep, session: Auditor) -> Response:
    found = await asyncio.to_thread(_status, console)
    return console.page(request, session, "audit_status.html", found)


@router.post("/verify")
async def verify(console: ConsoleDep, session: Auditor, _: Posted) -> Response:
    gw = console.gw

    def run() -> dict[str, Any]:
        started = time.perf_counter()
        key = gw.keys.ledger_signing.public_key()
        result: dict[str, Any] = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "ok": True}
        try:
            report = verify_store(gw.store, key)
            result["entries"] = report.entries
            checkpoint = gw.checkpoints.latest()
            if checkpoint is not None:
                check_against(tree_state(gw.store.entry_hashes(), checkpoint.size), checkpoint, key)
                result["checkpoint_size"] = checkpoint.size
        except GatewayError as exc:
            result.update(ok=False, problem=str(exc))
        result["seconds"] = round(time.perf_counter() - started, 2)
        return result

    console.last_verification = await asyncio.to_thread(run)
    return RedirectResponse("/console/audit", status_code=303)


def _row(row: StoredEntry, names: dict[str, str]) -> dict[str, Any]:
    oin = row.facts.requester_oin
    return {
        "seq": row.seq,
        "time": row.time,
        "action": row.facts.action,
        "organisation": names.get(oin, oin),
        "purpose": row.facts.purpose,
        "case": row.facts.case_id,
        "outcome": row.facts.outcome,
        "review": row.facts.review,
        "entry": row.entry_hash,
    }


def _search_choices(console: Console) -> dict[str, list[tuple[str, str]]]:
    names = console.organisations()
    return {
        "organisation": sorted(names.items(), key=lambda kv: kv[1]),
        "purpose": [(p, p) for p in sorted(console.gw.catalog.purposes)],
        "action": [(a, a) for a in sorted(ACTIONS)],
    }


@router.get("/search")
async def search(request: Request, console: ConsoleDep, session: Auditor) -> Response:
    q = request.query_params
    problems: list[str] = []
    choices = await asyncio.to_thread(_search_choices, console)
    allowed = {"organisation", "purpose", "action", "from", "to"}
    problems += forms.unknown_filters(q, allowed)
    chosen = {k: q.get(k, "") for k in ("organisation", "purpose", "action")}
    for name in ("organisation", "purpose", "action"):
        if chosen[name] and chosen[name] not in {v for v, _ in choices[name]}:
            problems.append(f"{name}: not one of the listed values")
    since = forms.day(q.get("from", ""), problems, "from")
    until = forms.day(q.get("to", ""), problems, "to")
    context: dict[str, Any] = {
        "choices": choices,
        "chosen": {
            **chosen,
            "from": q.get("from", "") if since else "",
            "to": q.get("to", "") if until else "",
        },
        "rows": None,
        "problems": problems,
        "limit": RESULT_ROWS,
    }
    if problems:
        return console.page(request, session, "audit_search.html", context, 400)
    if any(chosen.values()) or since or until:
        where = Filter(
            requester_oin=chosen["organisation"] or None,
            purpose=chosen["purpose"] or None,
            action=chosen["action"] or None,
            since=f"{since}T00:00:00Z" if since else None,
            until=forms.day_after(until) if until else None,
        )
        rows = await asyncio.to_thread(_find, console, where)
        await console.ledger(
            "console.view",
            session,
            "",
            {
                "view": "entries",
                "criteria": {**chosen, "from": since, "to": until},
                "shown": len(rows),
            },
        )
        context["rows"] = rows
    return console.page(request, session, "audit_search.html", context)


def _find(console: Console, where: Filter) -> list[dict[str, Any]]:
    names = console.organisations()
    return [_row(r, names) for r in islice(entries(console.gw.store, where), RESULT_ROWS)]


@router.post("/person")
async def person(
    request: Request,
    console: ConsoleDep,
    session: Auditor,
    _: Posted,
    bsn: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    problems: list[str] = []
    found = forms.bsn(bsn, problems)
    choices = await asyncio.to_thread(_search_choices, console)
    context: dict[str, Any] = {
        "choices": choices,
        "chosen": {"organisation": "", "purpose": "", "action": "", "from": "", "to": ""},
        "rows": None,
        "problems": problems,
        "limit": RESULT_ROWS,
        "person": True,
    }
    if found is None:
        return console.page(request, session, "audit_search.html", context, 400)
    pseudonym = console.pseudonymiser.pseudonym(found)
    rows = await asyncio.to_thread(_find, console, Filter(subject=pseudonym))
    await console.ledger("console.view", session, pseudonym, {"view": "person", "shown": len(rows)})
    context["rows"] = rows
    return console.page(request, session, "audit_search.html", context)


@router.get("/key")
async def key_page(request: Request, console: ConsoleDep, session: Auditor) -> Response:
    return console.page(request, session, "audit_key.html", {"problems": []})


@router.post("/key")
async def key_load(
    request: Request,
    console: ConsoleDep,
    session: Auditor,
    _: Posted,
    keyfile: Annotated[UploadFile, File()],
    passphrase: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    data = await keyfile.read(8192)
    # The key file's passphrase is stretched with scrypt: off the event loop.
    key = await asyncio.to_thread(console.auditor_key_from, data, passphrase.encode() or None)
    if key is None:
        return console.page(request, session, "audit_key.html", {"problems": ["au.key.wrong"]}, 400)
    token = console.token(request) or ""
    await asyncio.to_thread(console.sessions.keep_auditor_key, token, key)
    return RedirectResponse("/console/audit/key", status_code=303)


@router.post("/key/forget")
async def key_forget(
    request: Request, console: ConsoleDep, session: Auditor, _: Posted
) -> Response:
    token = console.token(request) or ""
    await asyncio.to_thread(console.sessions.forget_auditor_key, token)
    return RedirectResponse("/console/audit/key", status_code=303)


@router.post("/report")
async def report(
    request: Request,
    console: ConsoleDep,
    session: Auditor,
    _: Posted,
    bsn: Annotated[str, Form(max_length=20)] = "",
    fmt: Annotated[str, Form(alias="format", pattern="^(html|json)$")] = "html",
) -> Response:
    problems: list[str] = []
    found = forms.bsn(bsn, problems)
    key = await asyncio.to_thread(console.session_auditor_key, request)
    if key is None:
        problems.append("key: load your auditor key for this session first")
    if found is None or key is None:
        return console.page(
            request, session, "audit_report.html", {"report": None, "problems": problems}, 400
        )
    access = console.auditor_access(key)
    pseudonym = console.pseudonymiser.pseudonym(found)
    result = await asyncio.to_thread(subject_report, access, found)
    await console.ledger(
        "console.view",
        session,
        pseudonym,
        {"view": "art15_report", "format": fmt, "disclosures": len(result["disclosures"])},
    )
    if fmt == "json":
        return Response(
            json.dumps(result, indent=2, ensure_ascii=False),
            media_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="art15-report.json"',
                "Cache-Control": "no-store",
            },
        )
    return console.page(request, session, "audit_report.html", {"report": result, "problems": []})


def _last_days(q: Any, problems: list[str]) -> tuple[str, str]:
    today = date.today()
    since = (
        forms.day(q.get("from", ""), problems, "from") or (today - timedelta(days=29)).isoformat()
    )
    until = forms.day(q.get("to", ""), problems, "to") or today.isoformat()
    return since, until


@router.get("/charts")
async def charts(request: Request, console: ConsoleDep, session: Auditor) -> Response:
    problems: list[str] = []
    q = request.query_params
    allowed = {"from", "to", "organisation", "purpose"}
    problems += forms.unknown_filters(q, allowed)
    since, until = _last_days(q, problems)
    choices = await asyncio.to_thread(_search_choices, console)
    chosen = {k: q.get(k, "") for k in ("organisation", "purpose")}
    for name, value in chosen.items():
        if value and value not in {v for v, _ in choices[name]}:
            problems.append(f"{name}: not one of the listed values")
    if problems:
        return console.page(
            request, session, "error.html", {"message": "error.invalid", "problems": problems}, 400
        )

    def tally() -> Counts:
        where = Filter(
            action="disclosure.decision",
            requester_oin=chosen["organisation"] or None,
            purpose=chosen["purpose"] or None,
            since=f"{since}T00:00:00Z",
            until=forms.day_after(until),
        )
        return count(entries(console.gw.store, where), console.organisations())

    counts = await asyncio.to_thread(tally)
    return console.page(
        request,
        session,
        "audit_charts.html",
        {
            "since": since,
            "until": until,
            "choices": choices,
            "chosen": chosen,
            "charts": [
                ("per_day", "field.time", bar_chart(counts.per_day, label_width=110)),
                ("per_org", "field.organisation", bar_chart(counts.per_organisation)),
                ("per_purpose", "field.purpose", bar_chart(counts.per_purpose)),
            ],
        },
    )


@router.get("/anomalies")
async def anomaly_views(request: Request, console: ConsoleDep, session: Auditor) -> Response:
    key = await asyncio.to_thread(console.session_auditor_key, request)
    opener = console.auditor_access(key).body_or_none if key is not None else (lambda _row: None)

    def scan() -> dict[str, Any]:
        return anomalies_in(console.gw.store, opener)

    found = await asyncio.to_thread(scan)
    names = await asyncio.to_thread(console.organisations)
    await console.ledger(
        "console.view",
        session,
        "",
        {"view": "anomalies", "break_glass": len(found["break_glass_to_review"])},
    )
    return console.page(
        request,
        session,
        "audit_anomalies.html",
        {"found": found, "names": names, "with_key": key is not None},
    )


__all__ = ["router"]
