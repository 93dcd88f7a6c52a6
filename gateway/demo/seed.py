"""Seeding a gateway with the demo region: clients, cases and one database per source system."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, select

from connectors.sql import records_table
from gateway.auth.clients import new_secret, register_client
from gateway.bsn import Bsn
from gateway.cases.models import CaseRow
from gateway.catalog import Catalog
from gateway.db import make_engine
from gateway.demo.region import DemoCase, Region, region
from gateway.files import write_private
from gateway.runtime import Gateway
from gateway.typing import STAGES


def source_records(catalog: Catalog, source: str) -> dict[str, dict[str, Any]]:
    """``{bsn: {field: value}}`` for one source; BRP rows take name and birth date from Person."""
    out: dict[str, dict[str, Any]] = {}
    for person in region().persons.values():
        rec = person.records.get(source)
        if rec is None:
            continue
        row = dict(rec)
        if source == "gemeente.brp":
            row.update(naam=person.naam, geboortedatum=person.geboortedatum)
        out[person.bsn] = {f: row.get(f) for f in catalog.fields(source)}
    return out


def write_source_databases(catalog: Catalog, url_for: Callable[[str], str]) -> None:
    for source in catalog.sources:
        fields = catalog.fields(source)
        engine = make_engine(url_for(source))
        table = records_table({name: spec.type for name, spec in fields.items()})
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(delete(table))
            rows = [
                {
                    "bsn": bsn,
                    **{f: json.dumps(v) if isinstance(v, list) else v for f, v in rec.items()},
                }
                for bsn, rec in source_records(catalog, source).items()
            ]
            if rows:
                conn.execute(insert(table), rows)
        engine.dispose()


def open_case(gw: Gateway, demo: Region, case: DemoCase) -> str:
    """Open the demo case ``case`` as its regisseur does: its participants, its people linked,
    moved on to its stage. Returns the new case's id."""
    who = demo.regisseur_client(case).principal()
    row = gw.cases.create(who, case.purpose, [o.oin for o in case.participants])
    for link in case.subjects:
        gw.cases.link_subject(
            who, row.id, Bsn(link.person.bsn), link.relation, link.minor, link.consents
        )
    for stage in STAGES[1 : STAGES.index(case.stage) + 1]:
        gw.cases.set_stage(who, row.id, stage)
    return row.id


def seed(
    gw: Gateway, secrets_file: Path | None = None, demo: Region | None = None
) -> dict[str, str]:
    """Register the demo clients and cases (once) and write the source databases.

    Returns ``{demo case key: case id}``. Client secrets are written to ``secrets_file``
    (mode 0600) the first time so the demo can print them again.
    """
    demo = demo or region()
    secrets_doc: dict[str, Any] = {}
    if secrets_file and secrets_file.exists():
        secrets_doc = json.loads(secrets_file.read_text())
    client_secrets: dict[str, str] = secrets_doc.get("clients", {})
    for c in demo.clients.values():
        if c.client_id in client_secrets:
            continue
        client_secrets[c.client_id] = new_secret()
        register_client(
            gw.db,
            gw.seals,
            client_id=c.client_id,
            secret=client_secrets[c.client_id],
            oin=c.oin,
            organisation=c.organisation.name,
            org_type=c.org_type,
            role=c.role,
            user_ref=c.user_ref,
        )

    case_ids: dict[str, str] = secrets_doc.get("cases", {})
    with Session(gw.db) as session:
        known = set(session.exec(select(CaseRow.id)).all())
    for case in demo.cases.values():
        if case_ids.get(case.key) in known:
            continue
        case_ids[case.key] = open_case(gw, demo, case)

    write_source_databases(gw.catalog, gw.settings.source_url)
    if secrets_file is not None:
        doc = {"clients": client_secrets, "cases": case_ids}
        write_private(secrets_file, json.dumps(doc, indent=2).encode())
    return case_ids
