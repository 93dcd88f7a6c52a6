"""Pages for privacy officers: what the policy in force enforces, and what awaits their review.

The matrix and the dry run are the same functions as ``gateway policy matrix`` and
``gateway policy explain`` / ``POST /v1/policy/dry-run``; nothing here names a person, except the
break-glass queue, which shows ledger entries (case ids, organisations, times) and is therefore
ledgered itself.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Connection, insert, select

from gateway.audit.query import Filter, entries
from gateway.catalog import Catalog
from gateway.clock import iso_now
from gateway.console import forms
from gateway.console.deps import Console, ConsoleDep, ConsoleRefusal, Officer, Posted
from gateway.console.tables import break_glass_review, policy_activation
from gateway.errors import GatewayError, RegistryTampered
from gateway.policy import certificates
from gateway.policy.bundle import PolicySet, load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.matrix import CONTENT_STAGES, Cell, cells
from gateway.policy.replay import ReplayReport, replay
from gateway.policy.signing import MAX_BUNDLE_BYTES, open_bundle
from gateway.runtime import trusted_policy_keys
from gateway.typing import RELATIONS, STAGES

log = structlog.get_logger("gateway.registry")

router = APIRouter(prefix="/policy")
MATRIX_ROWS = 400
"""At most this many cells on one page (the filters narrow it; the CLI prints all)."""
QUEUE_ROWS = 200


def _choices(console: Console) -> dict[str, list[str]]:
    catalog = console.gw.catalog
    return {
        "purpose": sorted(catalog.purposes),
        "org_type": sorted({t for r in catalog.roles.values() for t in r["org_types"]}),
        "role": sorted(catalog.roles),
        "source": sorted(catalog.sources),
        "stage": list(CONTENT_STAGES),
    }


@router.get("/matrix")
async def matrix(request: Request, console: ConsoleDep, session: Officer) -> Response:
    choices = _choices(console)
    chosen: dict[str, str] = {}
    problems: list[str] = []
    for name, allowed in choices.items():
        value = request.query_params.get(name, "")
        if value and value not in allowed:
            problems.append(f"{name}: not one of the listed values")
        elif value:
            chosen[name] = value
    problems += forms.unknown_filters(request.query_params, choices)
    if problems:
        return console.page(
            request, session, "error.html", {"message": "error.invalid", "problems": problems}, 400
        )
    snapshot = console.gw.active.current

    def keep(cell: Cell) -> bool:
        return all(getattr(cell, k) == v for k, v in chosen.items())

    found = [c for c in cells(snapshot.catalog, snapshot.policy.catalog) if keep(c)]
    return console.page(
        request,
        session,
        "matrix.html",
        {
            "choices": choices,
            "chosen": chosen,
            "cells": found[:MATRIX_ROWS],
            "total": len(found),
            "limit": MATRIX_ROWS,
            "version": snapshot.version,
        },
    )


def _dry_run_choices(console: Console) -> dict[str, list[str]]:
    base = _choices(console)
    return {
        "purpose": base["purpose"],
        "role": base["role"],
        "stage": list(STAGES),
        "source": base["source"],
        "urgency": ["regulier", "spoed"],
        "relation": list(RELATIONS),
    }


@router.get("/dry-run")
async def dry_run_form(request: Request, console: ConsoleDep, session: Officer) -> Response:
    return console.page(
        request,
        session,
        "dry_run.html",
        {"choices": _dry_run_choices(console), "form": {}, "result": None, "problems": []},
    )


@router.post("/dry-run")
async def dry_run_submit(
    request: Request,
    console: ConsoleDep,
    session: Officer,
    _: Posted,
    purpose: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=64)] = "",
    stage: Annotated[str, Form(max_length=64)] = "",
    source: Annotated[str, Form(max_length=64)] = "",
    urgency: Annotated[str, Form(max_length=16)] = "regulier",
    relation: Annotated[str, Form(max_length=16)] = "hoofdpersoon",
    justified: Annotated[bool, Form()] = False,
    consent: Annotated[bool, Form()] = False,
    minor: Annotated[bool, Form()] = False,
) -> Response:
    from gateway.api.schemas import DryRunInput

    choices = _dry_run_choices(console)
    form = {
        "purpose": purpose,
        "role": role,
        "stage": stage,
        "source": source,
        "urgency": urgency,
        "relation": relation,
        "justified": justified,
        "consent": consent,
        "minor": minor,
    }
    problems = [
        f"{name}: choose one of the listed values"
        for name, allowed in choices.items()
        if form[name] not in allowed
    ]
    result = None
    if not problems:
        catalog = console.gw.catalog
        org_type = catalog.roles[role]["org_types"][0]
        oin = "00000001000000000000"
        try:
            policy_input = DryRunInput.model_validate(
                {
                    "requester": {"oin": oin, "org_type": org_type, "role": role},
                    "case": {"stage": stage, "purpose": purpose, "participants": [oin]},
                    "subject": {
                        "relation": relation,
                        "minor": minor,
                        "consents": [source] if consent else [],
                    },
                    "request": {"source": source, "urgency": urgency, "justified": justified},
                }
            ).model_dump()
        except ValidationError as exc:
            problems = [f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        else:
            result = await _evaluate(console, policy_input)
    status = 400 if problems else 200
    return console.page(
        request,
        session,
        "dry_run.html",
        {"choices": choices, "form": form, "result": result, "problems": problems},
        status,
    )


async def _evaluate(console: Console, policy_input: dict[str, Any]) -> dict[str, Any]:
    result = await console.gw.dry_run(policy_input)
    decision = result.get("decision") or {}
    explanation = result.get("explanation") or {}
    released = decision.get("fields") or {}
    withheld = decision.get("withheld") or {}
    fields = []
    for name in sorted(set(released) | set(withheld) | set(explanation.get("fields") or {})):
        grant = released.get(name)
        fields.append(
            {
                "name": name,
                "released": grant is not None,
                "transform": grant.get("transform") if grant else None,
                "basis": grant.get("basis") if grant else None,
                "break_glass": bool(grant and grant.get("break_glass")),
                "withheld": withheld.get(name),
                "steps": (explanation.get("fields") or {}).get(name, []),
            }
        )
    return {
        "version": result["policy_version"],
        "allow": bool(decision.get("allow")),
        "reasons": decision.get("reasons") or [],
        "checks": explanation.get("request_checks", []),
        "fields": fields,
    }


@router.get("/versions")
async def versions(request: Request, console: ConsoleDep, session: Officer) -> Response:
    gw = console.gw

    def activations() -> list[dict[str, Any]]:
        with gw.db.connect() as db:
            rows = db.execute(
                select(policy_activation).order_by(policy_activation.c.activated_at.desc())
            )
            found = [dict(r._mapping) for r in rows]
        if not all(gw.seals.check("policy_activation", row) for row in found):
            # Written behind the gateway's back: a version, source or signer that never was.
            log.error("registry.seal_mismatch", table="policy_activation")
            raise RegistryTampered("a policy activation does not match its seal")
        for row in found:
            row["certificate"] = certificates.load(gw.settings, row["version"])
        return found

    found = await asyncio.to_thread(activations)
    return console.page(
        request,
        session,
        "versions.html",
        {"activations": found, "current": gw.active.current.version},
    )


def _queue(console: Console) -> list[dict[str, Any]]:
    gw = console.gw
    names = console.organisations()
    with gw.db.connect() as db:
        rows = [dict(r._mapping) for r in db.execute(select(break_glass_review))]
    # A sign-off that fails its seal (ADR 0017) is no sign-off: the release stays waiting.
    reviewed = {r["entry_hash"]: r for r in rows if gw.seals.check("break_glass_review", r)}
    if len(reviewed) != len(rows):
        log.error("registry.seal_mismatch", table="break_glass_review")
    waiting = []
    for row in entries(gw.store, Filter(action="disclosure.decision", review=True)):
        waiting.append(
            {
                "entry": row.entry_hash,
                "time": row.time,
                "organisation": names.get(row.facts.requester_oin, row.facts.requester_oin),
                "purpose": row.facts.purpose,
                "case": row.facts.case_id,
                "review": reviewed.get(row.entry_hash),
            }
        )
    waiting.sort(key=lambda w: (w["review"] is not None, w["time"]))
    return waiting[:QUEUE_ROWS]


@router.get("/break-glass")
async def break_glass(request: Request, console: ConsoleDep, session: Officer) -> Response:
    waiting = await asyncio.to_thread(_queue, console)
    # The queue names cases and organisations: who looked is ledgered before it is shown.
    await console.ledger(
        "console.view", session, "", {"view": "break_glass_queue", "shown": len(waiting)}
    )
    return console.page(request, session, "break_glass.html", {"waiting": waiting})


@router.post("/break-glass/review")
async def break_glass_sign_off(
    console: ConsoleDep,
    session: Officer,
    _: Posted,
    entry: Annotated[str, Form(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")],
    verdict: Annotated[str, Form(pattern="^(justified|unjustified)$")],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    gw = console.gw

    def state() -> str:
        with gw.db.connect() as db:
            done = db.execute(
                select(break_glass_review).where(break_glass_review.c.entry_hash == entry)
            ).first()
        if done is not None:
            if not gw.seals.check("break_glass_review", done._mapping):
                # Written behind the gateway's back: it blocks the real sign-off (one per
                # release), so it is refused loudly, not taken for a review.
                log.error("registry.seal_mismatch", table="break_glass_review")
                raise RegistryTampered("a break-glass sign-off does not match its seal")
            return "reviewed"
        rows = entries(gw.store, Filter(action="disclosure.decision", review=True))
        return "waiting" if any(r.entry_hash == entry for r in rows) else "unknown"

    found = await asyncio.to_thread(state)
    if found == "unknown":
        raise ConsoleRefusal("not_found")
    if found == "reviewed":  # one sign-off per release; the first stands
        return RedirectResponse("/console/policy/break-glass", status_code=303)
    review = {
        "entry_hash": entry,
        "verdict": verdict,
        "note": note,
        "reviewer": session.identity.subject,
        "reviewed_at": iso_now(),
    }

    def record(conn: Connection) -> None:
        seal = gw.seals.seal("break_glass_review", review)
        conn.execute(insert(break_glass_review).values(**review, seal=seal))

    # The sign-off and its ledger entry commit together: a review exists exactly when the
    # ledger says it was made.
    await console.ledger(
        "break_glass.review",
        session,
        "",
        {"decision_entry": entry, "verdict": verdict, "note": note},
        also=record,
    )
    return RedirectResponse("/console/policy/break-glass", status_code=303)


REPLAY_CHANGES = 500
"""At most this many changed source decisions listed on the page (all are counted)."""


@router.get("/replay")
async def replay_form(request: Request, console: ConsoleDep, session: Officer) -> Response:
    return console.page(
        request,
        session,
        "replay.html",
        {"problems": [], "report": None, "form": {}, "development": _development(console)},
    )


def _development(console: Console) -> bool:
    return console.gw.settings.policy_mode == "development"


@router.post("/replay")
async def replay_submit(
    request: Request,
    console: ConsoleDep,
    session: Officer,
    _: Posted,
    candidate: Annotated[str, Form(pattern="^(bundle|directory)$")] = "bundle",
    bundle: Annotated[UploadFile | None, File()] = None,
    since: Annotated[str, Form(alias="from", max_length=10)] = "",
    until: Annotated[str, Form(alias="to", max_length=10)] = "",
    keyfile: Annotated[UploadFile | None, File()] = None,
    passphrase: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """A candidate policy over the ledger's past decisions (``gateway policy replay``). The
    sealed policy inputs open only with the auditor's key: the session's, or one an auditor
    hands over in this form for this replay only (four eyes; it is not kept)."""
    gw = console.gw
    problems: list[str] = []
    period = (forms.day(since, problems, "from"), forms.day(until, problems, "to"))
    key = await asyncio.to_thread(console.session_auditor_key, request)
    if key is None:
        pem = await keyfile.read(8192) if keyfile is not None else b""
        key = None
        if pem:  # the key file's passphrase is stretched with scrypt: off the event loop
            key = await asyncio.to_thread(
                console.auditor_key_from, pem, passphrase.encode() or None
            )
        if key is None:
            problems.append("au.key.wrong")
    policy: PolicySet | None = None
    label = ""
    if candidate == "directory" and not _development(console):
        problems.append("candidate: only a signed bundle outside development mode")
    elif candidate == "directory":
        loaded = await asyncio.to_thread(load_policy_set, gw.settings.resolved_policy_dir)
        policy, label = loaded, f"directory ({loaded.version[:19]})"
    else:
        data = await bundle.read(MAX_BUNDLE_BYTES + 1) if bundle is not None else b""
        try:
            trusted = trusted_policy_keys(gw.settings)
            opened, manifest = await asyncio.to_thread(open_bundle, data, trusted)
            policy, label = opened, f"bundle {manifest.revision} ({opened.version[:19]})"
        except (GatewayError, ValueError):
            problems.append("bundle: not a policy bundle signed by a trusted key")
    form = {"candidate": candidate, "from": since, "to": until}
    if problems or policy is None or key is None:
        context = {
            "problems": problems,
            "report": None,
            "form": form,
            "development": _development(console),
        }
        return console.page(request, session, "replay.html", context, 400)
    where = Filter(
        action="disclosure.decision",
        since=f"{period[0]}T00:00:00Z" if period[0] else None,
        until=forms.day_after(period[1]) if period[1] else None,
    )
    access = console.auditor_access(key)
    chosen = policy

    def run() -> ReplayReport:
        return replay(
            entries(gw.store, where),
            access.body_or_none,
            console.organisations(),
            EmbeddedEngine(chosen),
            Catalog(chosen.catalog),
            ReplayReport(label, period[0], period[1]),
        )

    report = await asyncio.to_thread(run)
    await console.ledger(
        "console.view",
        session,
        "",
        {
            "view": "replay",
            "candidate": label,
            "period": list(period),
            "requests": report.requests,
            "changed": report.changed_requests,
        },
    )
    summary = report.summary()
    summary["changes"] = summary["changes"][:REPLAY_CHANGES]
    return console.page(
        request,
        session,
        "replay.html",
        {
            "problems": [],
            "report": summary,
            "form": form,
            "development": _development(console),
            "limit": REPLAY_CHANGES,
            "total_changes": len(report.changes),
        },
    )
